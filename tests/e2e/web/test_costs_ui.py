"""The costs page in real Chromium: this month's cost lines, a bar for each day of the range, totals by
type; a narrower range without costs shows none; a reversed range is a message on the page, not an
error answer; the CSV export downloads the lines shown."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from browser_checks import DESKTOP, signed_in
from dashboard_seed import seed_adapter
from web_live_server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_range_chart_totals_and_csv(browser: Any, server: LiveServer, tmp_path: Path) -> None:
    seeded = seed_adapter(server.sessions, server.user_id, tmp_path / "adapter")
    today = dt.datetime.now(dt.UTC).date()
    with signed_in(browser, server, DESKTOP) as (page, _watch):
        page.goto(server.url + "/ui/costs")
        assert page.inner_text("#total-usd") == "$0.01"
        assert seeded.job_id in page.inner_text("#costs-table")
        assert page.locator("#cost-chart rect.day-bar").count() == today.day  # the 1st .. today
        assert page.locator("#cost-totals").inner_text().count("compute") == 1

        with page.expect_download() as info:
            page.click("#csv-link")
        rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text("utf-8"))))
        assert [r["job_id"] for r in rows] == [seeded.job_id] and rows[0]["kind"] == "compute"
        assert info.value.suggested_filename.startswith("lorapipe-costs-")

        # Last year: no lines, a bar per day, all empty.
        start, end = today.replace(year=today.year - 1, day=1), today.replace(year=today.year - 1, day=7)
        page.fill("#cost-start", start.isoformat())
        page.fill("#cost-end", end.isoformat())
        page.click("#range-form button[type=submit]")
        page.wait_for_url("**/ui/costs?start=*")
        assert page.locator("#costs-none").is_visible() and page.inner_text("#total-usd") == "$0.00"
        assert page.locator("#cost-chart rect.day-bar").count() == 7

        page.goto(f"{server.url}/ui/costs?start={end}&end={start}")
        assert "is after end" in page.inner_text("#range-problem")
