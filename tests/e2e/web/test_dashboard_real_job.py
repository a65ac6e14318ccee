"""The job page while a real job runs: API -> database -> reconciler -> the engine's child process on
the tiny model; the page's figures and chart come from the events that child reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web_live_server import EQ12, live_server

from lorapipe.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def running_server(tmp_path: Path, model_settings: Settings) -> Any:
    yield from live_server(tmp_path, model_settings.resolved_model_cache_dir, reconciler=True)


def test_a_real_tiny_job_streams_into_the_page(browser: Any, running_server: Any) -> None:
    server = running_server
    with server.api() as api:
        file = api.post(
            "/v1/files", files={"file": ("eq12.jsonl", EQ12.read_bytes())}, data={"purpose": "fine-tune"}
        )
        body = {
            "model": "lorapipe/tiny-qwen3",
            "training_file": file.json()["id"],
            "preset": "cpu-smoke",
            "config": {"max_steps": 6, "sample_prompts": 0},
        }
        r = api.post("/v1/fine_tuning/jobs", json=body)
        assert r.status_code == 200, r.text
        job_id = r.json()["id"]
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server.url + "/ui/login")
    page.fill("#api-key", server.key)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/ui/")
    page.goto(f"{server.url}/ui/jobs/{job_id}")
    # The page reloads once when the stream ends; then it shows the final record.
    page.wait_for_selector("#job[data-terminal=true]", state="attached", timeout=240_000)
    assert page.locator("#job-status .badge-succeeded").count() == 1, page.inner_text("#job-reason")
    assert page.inner_text("#p-step") == "6" and page.inner_text("#p-total") == "6"
    assert page.locator("#loss-chart path.train").count() == 1
    assert "Download zip" in page.inner_text("main")
    messages = page.inner_text("#events")
    assert "succeeded" in messages and "Step 6/6" in messages
    page.screenshot(path="/tmp/lorapipe-web-real-job.png", full_page=True)
    page.goto(server.url + "/ui/adapters")
    # Before -> after, from the verified manifest's metrics.
    assert "→" in page.inner_text("#adapters-table td[data-label='Eval loss']")
    context.close()
