"""The adapter pages in real Chromium: the list sorts by eval loss; the adapter page shows the run and
its lineage, a file downloaded from it matches the manifest's sha256, and rename and delete each ask in
the page before anything is sent (cancelling sends nothing)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_checks import DESKTOP, PHONE, page_width, signed_in
from dashboard_seed import Seeded, seed_adapter
from web_live_server import LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def adapters(tmp_path: Path) -> Iterator[tuple[LiveServer, Seeded, Seeded]]:
    for server in live_server(tmp_path):
        good = seed_adapter(server.sessions, server.user_id, tmp_path / "good")
        worse = seed_adapter(
            server.sessions, server.user_id, tmp_path / "worse", summary={"eval_loss_after": 3.1}
        )
        yield server, good, worse


def test_sort_open_download_rename_and_delete(
    browser: Any, adapters: tuple[LiveServer, Seeded, Seeded]
) -> None:
    server, good, worse = adapters
    with signed_in(browser, server, DESKTOP) as (page, watch):
        page.goto(server.url + "/ui/adapters")
        names = page.locator("#adapters-table .adapter-link").all_inner_texts()
        assert names == [worse.adapter_name, good.adapter_name]  # newest first
        page.click("a:has-text('Eval loss')")
        page.wait_for_url("**/ui/adapters?sort=eval_loss")
        assert page.locator("#adapters-table .adapter-link").all_inner_texts() == [
            good.adapter_name,
            worse.adapter_name,
        ]

        page.click(f"#adapters-table a:has-text('{good.adapter_name}')")
        page.wait_for_url(f"**/ui/adapters/{good.adapter_id}")
        figures = page.inner_text("#eval-figures")
        assert "2.05" in figures and "before: 2.75" in figures and "7.77" in figures
        assert (
            page.locator("#playground-link").get_attribute("href")
            == f"/ui/adapters/{good.adapter_id}/playground"
        )
        assert "That sounds frustrating" in page.inner_text("#samples")

        # One file, downloaded through its link, is the file the manifest describes.
        with page.expect_download() as info:
            page.click("#files a:has-text('adapter_model.safetensors')")
        data = Path(info.value.path()).read_bytes()
        assert data == good.files["adapter_model.safetensors"]
        assert hashlib.sha256(data).hexdigest() in page.inner_text("#files")
        with page.expect_download() as info:
            page.click("#download-all")
        assert info.value.suggested_filename.endswith(".zip")

        # Rename: the form opens in the page; cancelling sends nothing; saving renames.
        page.click("button[data-toggle=rename-box]")
        assert page.locator("#rename-input").is_visible()
        page.click("#rename-box button:has-text('Cancel')")
        assert not page.locator("#rename-box").is_visible()
        page.click("button[data-toggle=rename-box]")
        page.fill("#rename-input", "support-tone-v2")
        page.click("#rename-form button[type=submit]")
        page.wait_for_function(
            "() => document.getElementById('adapter-name').textContent.trim() === 'support-tone-v2'"
        )
        with server.api() as api:
            assert api.get(f"/api/adapters/{good.adapter_id}").json()["name"] == "support-tone-v2"
            assert (
                api.get(f"/v1/fine_tuning/jobs/{good.job_id}").json()["fine_tuned_model"] == "support-tone-v2"
            )

        # A taken name is refused in the page, inline (the one error answer this test expects).
        watch.expected.add(f"{server.url}/api/adapters/{good.adapter_id}")
        page.click("button[data-toggle=rename-box]")
        page.fill("#rename-input", worse.adapter_name)
        page.click("#rename-form button[type=submit]")
        page.wait_for_selector("#rename-error:not([hidden])")
        assert "already have an adapter named" in page.inner_text("#rename-error")
        page.click("#rename-box button:has-text('Cancel')")
        watch.expected.clear()

        # Delete: asks in the page; "Keep it" sends nothing; "Delete for good" deletes and lists the rest.
        page.click("button[data-toggle=delete-box]")
        assert page.locator("#delete-box").is_visible() and "cannot be undone" in page.inner_text(
            "#delete-box"
        )
        page.click("#delete-box button:has-text('Keep it')")
        with server.api() as api:
            assert api.get(f"/api/adapters/{good.adapter_id}").status_code == 200
        page.click("button[data-toggle=delete-box]")
        page.click("#delete-confirm")
        page.wait_for_url("**/ui/adapters")
        assert page.locator("#adapters-table .adapter-link").all_inner_texts() == [worse.adapter_name]
        with server.api() as api:
            assert api.get(f"/api/adapters/{good.adapter_id}").status_code == 404


def test_the_adapter_page_fits_a_phone(browser: Any, adapters: tuple[LiveServer, Seeded, Seeded]) -> None:
    server, good, _ = adapters
    with signed_in(browser, server, PHONE) as (page, _watch):
        page.goto(f"{server.url}/ui/adapters/{good.adapter_id}")
        page.click("button[data-toggle=delete-box]")
        assert page.locator("#delete-confirm").is_visible()
        assert page_width(page) <= PHONE["width"]
        base = page.locator(".sample-pair .pane").nth(0).bounding_box()
        tuned = page.locator(".sample-pair .pane").nth(1).bounding_box()
        assert base and tuned and tuned["y"] >= base["y"] + base["height"]  # stacked on a phone
