"""Every dashboard page in real Chromium at 375 px (a phone) and 1440 px: it renders with the layout
(sidebar on a desktop, a drawer behind the menu button on a phone, the notifications bell), no console
error and no 4xx/5xx of its own, never wider than a 375 px screen, and a screenshot of each is saved
(``test-output/screenshots``). The pages are read from the app's routes, so a new page is covered or the
test says which path parameter it cannot fill."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_checks import DESKTOP, PHONE, page_width, screenshot, signed_in
from dashboard_seed import seed_adapter, seed_budget_notification
from fastapi import FastAPI
from fastapi.routing import APIRoute
from web_live_server import EQ12, LiveServer, live_server

from lorapipe.settings import Settings
from lorapipe.web import mount_dashboard

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: Downloads and redirects, not pages.
NOT_PAGES = re.compile(r"(/download$|/files/\{path:path\}$|\.csv$|^/$|^/ui/login$)")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """One live service (module-wide: every page test reads it) with a dataset, a job and its adapter,
    costs, a budget at 60 %, a webhook with a test delivery and two unread notifications."""
    tmp = tmp_path_factory.mktemp("layout")
    for server in live_server(tmp, Settings().resolved_model_cache_dir):
        with server.api() as api:
            dataset = api.post(
                "/api/datasets",
                params={"name": "EQ-12 sample", "filename": "eq12.jsonl"},
                content=EQ12.read_bytes(),
            ).json()
            made = seed_adapter(server.sessions, server.user_id, tmp / "adapter", dataset_id=dataset["id"])
            seed_budget_notification(server.sessions, server.user_id)
            assert api.put("/api/budget", json={"monthly_usd": 0.02}).status_code == 200
            hook = api.post(
                "/api/webhooks", json={"url": "https://93.184.215.14/lorapipe", "events": ["*"]}
            ).json()
            assert api.post(f"/api/webhooks/{hook['id']}/test").status_code == 202
        yield server, {"dataset_id": dataset["id"], "job_id": made.job_id, "adapter_id": made.adapter_id}


def _flat(routes: list[Any]) -> Iterator[Any]:
    """The routes of an app, the routers it included opened (FastAPI >= 0.165 includes them lazily;
    the dashboard's routers have no prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else [route]


def dashboard_pages(ids: dict[str, str]) -> list[str]:
    """Every GET page of the dashboard with its path parameters filled from ``ids``."""
    app = FastAPI()
    mount_dashboard(app)
    pages = []
    for route in _flat(app.routes):
        if (
            not isinstance(route, APIRoute)
            or "GET" not in (route.methods or ())
            or NOT_PAGES.search(route.path)
        ):
            continue
        names = re.findall(r"\{(\w+)[^}]*\}", route.path)
        missing = [n for n in names if n not in ids]
        assert not missing, f"{route.path}: add a sample {missing} to the layout test's seed"
        pages.append(re.sub(r"\{(\w+)[^}]*\}", lambda m: ids[m.group(1)], route.path))
    return sorted(set(pages))


def _name(path: str, width: int, ids: dict[str, str]) -> str:
    for key, value in ids.items():
        path = path.replace(value, key.removesuffix("_id"))
    slug = re.sub(r"[^a-z0-9]+", "-", path.removeprefix("/ui").lower()).strip("-") or "overview"
    return f"{slug}-{width}"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "1440px"])
def test_every_page_renders_fits_and_is_screenshotted(
    browser: Any, seeded: tuple[LiveServer, dict[str, str]], viewport: dict[str, int]
) -> None:
    server, ids = seeded
    pages = dashboard_pages(ids)
    assert {
        "/ui/",
        "/ui/costs",
        "/ui/settings",
        "/ui/notifications",
        f"/ui/adapters/{ids['adapter_id']}",
    } <= set(pages)
    missing = "/ui/adapters/adapter-does-not-exist"
    too_wide: dict[str, int] = {}
    with signed_in(browser, server, viewport) as (page, watch):
        watch.expected.add(server.url + missing)
        for path in [*pages, missing]:
            with httpx.Client(base_url=server.url, cookies={"lorapipe_key": server.key}) as plain:
                kind = plain.get(path).headers.get("content-type", "")
            if not kind.startswith("text/html"):
                continue  # an event stream or a file, not a page
            response = page.goto(server.url + path)
            assert response is not None and response.status == (404 if path == missing else 200), path
            page.wait_for_load_state("networkidle")
            assert page.locator("#bell").is_visible(), path
            assert page.locator("main").is_visible() and page.inner_text("main").strip(), path
            screenshot(page, _name(path, viewport["width"], ids))
            if page_width(page) > viewport["width"]:
                too_wide[path] = page_width(page)
        # Signed out: the login page.
        page.evaluate("localStorage.clear()")
        page.context.clear_cookies()
        page.goto(server.url + "/ui/login")
        screenshot(page, _name("/ui/login", viewport["width"], ids))
        if page_width(page) > viewport["width"]:
            too_wide["/ui/login"] = page_width(page)
    if viewport is PHONE:
        assert too_wide == {}, f"wider than {PHONE['width']} px: {too_wide}"


def test_drawer_on_a_phone_sidebar_on_a_desktop(
    browser: Any, seeded: tuple[LiveServer, dict[str, str]]
) -> None:
    server, _ = seeded
    with signed_in(browser, server, PHONE) as (page, _watch):
        page.goto(server.url + "/ui/costs")
        menu, sidebar = page.locator("#menu-button"), page.locator("#sidebar")
        assert menu.is_visible() and not sidebar.is_visible()
        assert menu.get_attribute("aria-expanded") == "false"
        # Keyboard only: focus the menu button, open with Enter, the first link takes focus, Escape closes.
        menu.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('sidebar').getBoundingClientRect().left >= 0")
        assert sidebar.is_visible() and menu.get_attribute("aria-expanded") == "true"
        assert page.evaluate("document.activeElement.getAttribute('href')") == "/ui/"
        for label in ("Overview", "Datasets", "Jobs", "Adapters", "Costs", "Settings"):
            assert page.locator("#sidebar nav a", has_text=label).first.is_visible()
        page.keyboard.press("Escape")
        page.wait_for_function(
            "() => getComputedStyle(document.getElementById('sidebar')).visibility === 'hidden'"
        )
        assert page.evaluate("document.activeElement.id") == "menu-button"
        # The scrim closes it too, and a link in it navigates.
        menu.click()
        page.locator("#sidebar nav a", has_text="Settings").click()
        page.wait_for_url("**/ui/settings")
        assert page_width(page) <= PHONE["width"]

    with signed_in(browser, server, DESKTOP) as (page, _watch):
        page.goto(server.url + "/ui/adapters")
        assert page.locator("#sidebar").is_visible() and not page.locator("#menu-button").is_visible()
        current = page.locator("#sidebar nav a[aria-current=page]")
        assert current.count() == 1 and current.inner_text().strip() == "Adapters"
        box = page.locator("main").bounding_box()
        assert box is not None and box["x"] >= 220  # beside the sidebar, not under it


def test_screenshots_are_kept(seeded: tuple[LiveServer, dict[str, str]]) -> None:
    """The folder the screenshots go to is ignored by git (test output, never committed)."""
    root = Path(__file__).parents[3]
    assert "/test-output/" in (root / ".gitignore").read_text("utf-8").split()
