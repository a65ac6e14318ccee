"""The adapter playground in real Chromium, at desktop and phone width, against a live service whose
reconciler trains a real tiny-model adapter: a prompt streams replies from the base model and from the
adapter into two panes (different for the trained adapter, sampled with a fixed seed); a held-out prompt from the
adapter's samples.json fills the prompt box on click; the share snippets name the adapter's ``ft:`` id
and no real key; another user gets a 404 for the page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_live_server import EQ12, LiveServer, live_server

from lorapipe.db import session_scope
from lorapipe.services import accounts
from lorapipe.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BASE = "lorapipe/tiny-qwen3"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def running_server(tmp_path: Path, model_settings: Settings) -> Iterator[LiveServer]:
    yield from live_server(tmp_path, model_settings.resolved_model_cache_dir, reconciler=True)


@pytest.fixture
def trained(running_server: LiveServer) -> tuple[LiveServer, dict[str, Any]]:
    """A live service and the adapter its reconciler trained (8 steps, two held-out prompts)."""
    server = running_server
    with server.api() as api:
        file = api.post(
            "/v1/files", files={"file": ("eq12.jsonl", EQ12.read_bytes())}, data={"purpose": "fine-tune"}
        )
        config = {"max_steps": 8, "learning_rate": 0.005, "sample_prompts": 2, "sample_max_new_tokens": 8}
        body = {"model": BASE, "training_file": file.json()["id"], "preset": "cpu-smoke", "config": config}
        job = api.post("/v1/fine_tuning/jobs", json=body).json()
        deadline = time.monotonic() + 300
        while (status := api.get(f"/v1/fine_tuning/jobs/{job['id']}").json()["status"]) not in (
            "succeeded",
            "failed",
            "cancelled",
        ):
            assert time.monotonic() < deadline, "the tiny job did not finish"
            time.sleep(0.5)
        assert status == "succeeded"
        adapter = api.get("/api/adapters").json()["data"][0]
    return server, adapter


def _signed_in(browser: Any, server: LiveServer, key: str, viewport: dict[str, int]) -> tuple[Any, Any]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.url + "/ui/login")
    page.fill("#api-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/ui/")
    return context, page


def _ask(page: Any) -> tuple[str, str]:
    """Send the prompt box (temperature 0.7, seed 7: sampled, reproducibly); the two panes' text once
    both replies are done."""
    page.fill("#pg-temperature", "0.7")
    page.fill("#pg-seed", "7")
    page.fill("#pg-max-tokens", "24")
    page.click("#pg-send")
    for pane in ("base", "adapter"):
        page.wait_for_function(
            f"() => /^(Done|No reply)/.test(document.getElementById('pg-{pane}-status').textContent)",
            timeout=120_000,
        )
        assert page.inner_text(f"#pg-{pane}-status").startswith("Done"), page.inner_text(f"#pg-{pane}-status")
    return page.inner_text("#pg-base-reply"), page.inner_text("#pg-adapter-reply")


def test_playground_streams_base_and_adapter_side_by_side(
    browser: Any, trained: tuple[LiveServer, dict[str, Any]]
) -> None:
    server, adapter = trained
    with server.api() as api:
        samples = api.get(f"/api/adapters/{adapter['id']}/files/samples.json").json()["samples"]
    blocked: list[str] = []

    context, page = _signed_in(browser, server, server.key, {"width": 1280, "height": 900})
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/ui/adapters")
    page.click("#adapters-table a:has-text('Playground')")
    page.wait_for_url(f"**/ui/adapters/{adapter['id']}/playground")

    # The share snippets call this adapter by its ft: id, with a placeholder key, never the real one.
    assert adapter["name"].startswith("ft:")
    for snippet in ("#pg-snippet-curl", "#pg-snippet-python"):
        text = page.inner_text(snippet)
        assert adapter["name"] in text and "YOUR_LORAPIPE_API_KEY" in text
    assert "from openai import OpenAI" in page.inner_text("#pg-snippet-python")
    assert server.key not in page.content()

    # A held-out prompt (from samples.json) fills the prompt box on click.
    page.locator("#pg-heldout button.use-prompt").nth(1).click()
    assert page.input_value("#pg-prompt") == samples[1]["prompt"]

    base, tuned = _ask(page)
    assert base.strip() and tuned.strip() and base != tuned
    # The streamed pane holds the whole reply: the same as one non-streamed answer to the same request.
    with server.api() as api:
        whole = api.post(
            "/v1/chat/completions",
            json={
                "model": adapter["name"],
                "messages": [{"role": "user", "content": samples[1]["prompt"]}],
                "temperature": 0.7,
                "max_tokens": 24,
                "seed": 7,
            },
        ).json()
    assert whole["choices"][0]["message"]["content"].strip() == tuned.strip()
    page.screenshot(path="/tmp/lorapipe-web-playground.png", full_page=True)
    context.close()

    context, phone = _signed_in(browser, server, server.key, PHONE)
    phone.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    phone.goto(f"{server.url}/ui/adapters/{adapter['id']}/playground")
    phone.fill("#pg-prompt", "I feel lost at work and my manager ignores my questions.")
    base, tuned = _ask(phone)
    assert base.strip() and tuned.strip() and base != tuned
    # On a phone the panes stack and stay within the screen.
    top, below = (
        phone.locator("#pg-base-reply").bounding_box(),
        phone.locator("#pg-adapter-reply").bounding_box(),
    )
    assert below["y"] >= top["y"] + top["height"]
    assert top["x"] >= 0 and top["x"] + top["width"] <= PHONE["width"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    phone.screenshot(path="/tmp/lorapipe-web-playground-phone.png", full_page=True)
    context.close()
    assert not blocked, blocked

    with session_scope(server.sessions) as s:
        other = accounts.create_user(s, "olga")
        _, other_key = accounts.create_api_key(s, other)
    context, stranger = _signed_in(browser, server, other_key, {"width": 1280, "height": 900})
    answer = stranger.goto(f"{server.url}/ui/adapters/{adapter['id']}/playground")
    assert answer is not None and answer.status == 404
    assert "no adapter" in stranger.inner_text("main")
    assert adapter["name"] not in stranger.content()
    context.close()
