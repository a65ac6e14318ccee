"""The settings page in real Chromium: an API key is created with its secret shown once (and works),
then revoked after an in-page confirmation (and is refused); a webhook is added (its secret shown
once), sent a test event, and its delivery log shows the delivery; a monthly budget is set, shows as a
bar on the costs page, and is removed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_checks import DESKTOP, PHONE, page_width, signed_in
from dashboard_seed import seed_adapter
from web_live_server import LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: A public address (webhook targets must be public); nothing is sent in this test: no outbox runs.
HOOK_URL = "https://93.184.215.14/lorapipe-events"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    yield from live_server(tmp_path)


def _works(server: LiveServer, key: str) -> int:
    return httpx.get(server.url + "/api/stats", headers={"Authorization": f"Bearer {key}"}).status_code


def test_create_a_key_see_it_once_and_revoke_it(browser: Any, server: LiveServer) -> None:
    with signed_in(browser, server, DESKTOP) as (page, _watch):
        page.goto(server.url + "/ui/settings")
        assert page.locator("#keys-table .this-browser:visible").count() == 1  # the key signed in here
        page.fill("#key-name", "ci runner")
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#key-secret-box:not([hidden])")
        secret = page.inner_text("#key-secret").strip()
        assert secret.startswith("lp-") and _works(server, secret) == 200

        page.click("#key-secret-box button:has-text('Done')")
        page.wait_for_load_state("load")
        assert secret not in page.content()  # shown once: the list has its prefix only
        row = page.locator("#keys-table tr", has_text="ci runner")
        assert secret[:10] in row.inner_text() and "active" in row.inner_text()

        # Revoke asks in the page; Cancel keeps the key.
        row.locator("button:has-text('Revoke')").click()
        assert "Anything using it stops working" in row.inner_text()
        row.locator(".inline-confirm button:has-text('Cancel')").click()
        assert _works(server, secret) == 200
        row.locator("button:has-text('Revoke')").click()
        row.locator(".inline-confirm button:has-text('Revoke')").click()
        page.wait_for_function("() => document.querySelector('#flash').textContent === 'Key revoked.'")
        assert "revoked" in row.inner_text() and _works(server, secret) == 401
        assert _works(server, server.key) == 200  # the browser's own key still works


def test_add_a_webhook_test_it_and_read_its_delivery_log(browser: Any, server: LiveServer) -> None:
    with signed_in(browser, server, PHONE) as (page, watch):
        page.goto(server.url + "/ui/settings")
        # A private address is refused (the SSRF rules), inline.
        watch.expected.add(server.url + "/api/webhooks")
        page.fill("#webhook-url", "http://127.0.0.1:9/hook")
        page.click("#webhook-form button[type=submit]")
        page.wait_for_selector("#webhook-error:not([hidden])")
        assert "public" in page.inner_text("#webhook-error") or "refused" in page.inner_text("#webhook-error")
        watch.expected.clear()

        page.fill("#webhook-url", HOOK_URL)
        page.uncheck("#webhook-form input[value='*']")
        page.check("#webhook-form input[value='job.succeeded']")
        page.check("#webhook-form input[value='webhook.test']")
        page.click("#webhook-form button[type=submit]")
        page.wait_for_selector("#webhook-secret-box:not([hidden])")
        assert page.inner_text("#webhook-secret").startswith("whsec_")
        page.click("#webhook-secret-box button:has-text('Done')")
        page.wait_for_selector("#webhook-list li.webhook")
        hook = page.locator("#webhook-list li.webhook").first
        assert HOOK_URL in hook.inner_text() and "job.succeeded, webhook.test" in hook.inner_text()
        assert "whsec_" not in page.content()

        hook.locator("button:has-text('Send test')").click()
        hook.locator(".delivery-body table").wait_for()
        log = hook.locator(".delivery-body").inner_text()
        assert "webhook.test" in log and "pending" in log
        assert page_width(page) <= PHONE["width"]

        hook.locator("button:has-text('Delete')").click()
        hook.locator(".inline-confirm button:has-text('Delete')").click()
        page.wait_for_function("() => !document.querySelector('#webhook-list li.webhook')")
        with server.api() as api:
            assert api.get("/api/webhooks").json()["total"] == 0


def test_set_a_budget_see_the_bar_and_remove_it(browser: Any, server: LiveServer, tmp_path: Path) -> None:
    seed_adapter(server.sessions, server.user_id, tmp_path / "adapter")  # books $0.0125 today
    with signed_in(browser, server, DESKTOP) as (page, _watch):
        page.goto(server.url + "/ui/costs")
        assert page.locator("#budget-none").is_visible()
        page.goto(server.url + "/ui/settings")
        page.fill("#budget-usd", "0.02")
        page.click("#budget-form button[type=submit]")
        page.wait_for_function("() => document.getElementById('budget-status').textContent.includes('$0.02')")
        page.click("#budget-status a")
        page.wait_for_url("**/ui/costs")
        bar = page.locator("#budget-bar")
        assert bar.is_visible() and "level-ok" in (bar.get_attribute("class") or "")
        spent = float(page.locator("#budget-bar rect.spent").get_attribute("width") or 0)
        whole = float(page.locator("#budget-bar rect.track").get_attribute("width") or 1)
        assert spent / whole == pytest.approx(0.625, abs=0.01)  # $0.0125 of $0.02

        # Below this month's spend: the bar is full and says new jobs are blocked.
        page.goto(server.url + "/ui/settings")
        page.fill("#budget-usd", "0.01")
        page.click("#budget-form button[type=submit]")
        page.wait_for_function("() => document.getElementById('budget-status').textContent.includes('$0.01')")
        page.goto(server.url + "/ui/costs")
        assert "level-block" in (bar.get_attribute("class") or "")
        assert float(page.locator("#budget-bar rect.spent").get_attribute("width") or 0) == whole
        assert "exceeded" in page.inner_text("#budget") and "blocked" in page.inner_text("#budget")

        page.goto(server.url + "/ui/settings")
        page.click("button[data-action=clear-budget]")
        page.wait_for_function(
            "() => document.getElementById('budget-status').textContent.includes('No budget')"
        )
        with server.api() as api:
            assert api.get("/api/budget").json()["monthly_usd"] is None
