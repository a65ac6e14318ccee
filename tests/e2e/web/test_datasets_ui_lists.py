"""Every list in real Chromium: the Datasets and Jobs filters submitted on "any" (``?status=``), their
"Older →" links, page 2 of the adapters, sorting a column, and a missing page: each answers a styled
page, never JSON; no console error, no 4xx/5xx the page asked for (but the 404 page's own answer)."""

from __future__ import annotations

from typing import Any

import pytest
from launch_pages import TINY, Watched
from web_live_server import EQ12, LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _fill(server: LiveServer, datasets: int, jobs: int) -> None:
    with server.api() as api:
        for i in range(datasets):
            body = EQ12.read_bytes().replace(b"EQ-12-conversations-demo", f"copy-{i}".encode(), 1)
            r = api.post("/api/datasets", params={"name": f"set {i:02d}"}, content=body)
            assert r.status_code in (200, 201), r.text
            if i == 0:
                first = r.json()["id"]
        for _ in range(jobs):  # cancelled at once (queued, no reconciler): only so many may be active
            job = api.post(
                "/v1/fine_tuning/jobs", json={"model": TINY, "training_file": first, "preset": "cpu-smoke"}
            )
            assert job.status_code == 200, job.text
            assert api.post(f"/api/jobs/{job.json()['id']}/cancel").status_code == 200


def _is_page(page: Any) -> None:
    assert page.locator("main#main").count() == 1, page.content()[:300]
    assert not page.inner_text("body").lstrip().startswith("{")


def test_filters_on_any_and_page_two_of_every_list(browser: Any, server: LiveServer) -> None:
    _fill(server, datasets=22, jobs=21)
    watched = Watched(browser, server, {"width": 1280, "height": 900})
    page = watched.page
    try:
        page.goto(server.url + "/ui/datasets")
        page.click("form.filters button[type=submit]")  # status left on "any", search empty
        page.wait_for_url("**/ui/datasets?q=&status=*")
        _is_page(page)
        assert "1–20 of 22" in page.inner_text(".pager")
        page.click(".pager a[rel=next]")
        page.wait_for_url("**page=2")
        _is_page(page)
        assert "21–22 of 22" in page.inner_text(".pager")
        page.click("#datasets-table th >> text=Name")
        page.wait_for_url("**sort=name*")
        names = page.locator("#datasets-table tbody td:first-child").all_inner_texts()
        assert names == sorted(names) and names[0] == "set 00"

        page.goto(server.url + "/ui/jobs")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/ui/jobs?status=")
        _is_page(page)
        page.click(".pager a[rel=next]")
        page.wait_for_url("**page=2")
        _is_page(page)
        assert "21–21 of 21" in page.inner_text(".pager")
        page.select_option("#status", "cancelled")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**status=cancelled")
        assert page.locator("#jobs-table .badge-cancelled").count() == 20

        page.goto(server.url + "/ui/adapters?page=2")
        _is_page(page)
        assert not watched.problems, watched.problems

        # A missing page is the site's own Not-found page (its 404 is expected, nothing else is).
        page.goto(server.url + "/ui/jobs/ftjob-000000000000000000000000")
        assert page.inner_text("h1") == "Not found"
        page.goto(server.url + "/ui/no/such/page")
        assert page.inner_text("h1") == "Not found" and page.locator("nav[aria-label=Main]").count() == 1
        assert all(p.startswith("404 GET") or "404 (Not Found)" in p for p in watched.problems), (
            watched.problems
        )
    finally:
        watched.close()
