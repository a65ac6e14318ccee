"""Notifications in real Chromium: the bell shows the unread count on every page; its panel lists them,
one is marked read there (the count drops on the page and in the database), following one opens its
object and marks it read, and "Mark all read" on the notifications page clears the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_checks import DESKTOP, PHONE, screenshot, signed_in
from dashboard_seed import Seeded, seed_adapter, seed_budget_notification
from web_live_server import LiveServer, live_server

from lorapipe.db import session_scope
from lorapipe.services.notifications import notify

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def noted(tmp_path: Path) -> Iterator[tuple[LiveServer, Seeded]]:
    """Three unread notifications: a job that succeeded, a budget warning, a dataset ready."""
    for server in live_server(tmp_path):
        seeded = seed_adapter(server.sessions, server.user_id, tmp_path / "adapter")
        seed_budget_notification(server.sessions, server.user_id)
        with session_scope(server.sessions) as s:
            notify(s, owner_id=server.user_id, kind="dataset.ready", title="Dataset eq12 is ready",
                   data={"dataset_id": "ds_missing"})  # fmt: skip
        yield server, seeded


def _unread(server: LiveServer) -> int:
    with server.api() as api:
        return int(api.get("/api/notifications").json()["unread_count"])


def test_bell_panel_mark_read_follow_and_read_all(browser: Any, noted: tuple[LiveServer, Seeded]) -> None:
    server, seeded = noted
    with signed_in(browser, server, DESKTOP) as (page, _watch):
        for path in ("/ui/", "/ui/adapters", "/ui/settings"):
            page.goto(server.url + path)
            assert page.inner_text("#bell-count") == "3"
        page.click("#bell")
        panel = page.locator("#notif-panel")
        assert panel.is_visible() and panel.locator("li.note.unread").count() == 3
        page.keyboard.press("Escape")
        assert not panel.is_visible() and page.evaluate("document.activeElement.id") == "bell"

        # Mark the budget warning read in the panel.
        page.click("#bell")
        budget = panel.locator("li.note", has_text="budget reached")
        budget.locator("button:has-text('Mark read')").click()
        page.wait_for_function("() => document.getElementById('bell-count').textContent === '2'")
        assert "unread" not in (budget.get_attribute("class") or "") and _unread(server) == 2

        # Following the job's notification opens the job and marks it read.
        panel.locator("a", has_text=f"Job {seeded.job_id} succeeded").click()
        page.wait_for_url(f"**/ui/jobs/{seeded.job_id}")
        assert page.inner_text("#bell-count") == "1" and _unread(server) == 1

        page.goto(server.url + "/ui/notifications")
        assert page.locator("#notifications-list li.note").count() == 3
        assert page.locator("#notifications-list a[href='/ui/costs']").count() == 1
        page.click("main button[data-action=read-all-notifications]")
        page.wait_for_function("() => document.getElementById('bell-count').hidden")
        assert page.locator("#notifications-list li.note.unread").count() == 0 and _unread(server) == 0
        page.goto(server.url + "/ui/notifications?unread=true")
        assert page.locator("#notifications-list li.note").count() == 0


def test_the_panel_fits_a_phone(browser: Any, noted: tuple[LiveServer, Seeded]) -> None:
    server, _ = noted
    with signed_in(browser, server, PHONE) as (page, _watch):
        page.click("#bell")
        screenshot(page, "notification-panel-375")
        box = page.locator("#notif-panel").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
