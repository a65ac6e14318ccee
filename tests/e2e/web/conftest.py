"""Fixtures of the dashboard browser tests (helpers in web_live_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_live_server import LiveServer, chromium_browser, live_server

from lorapipe.settings import Settings


@pytest.fixture
def server(tmp_path: Path, model_settings: Settings) -> Iterator[LiveServer]:
    """lorapipe on 127.0.0.1 (a free port) over a fresh SQLite file, with one user and key; the
    model cache is the test session's (tiny models built once)."""
    yield from live_server(tmp_path, model_settings.resolved_model_cache_dir)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright (skips when either is missing)."""
    yield from chromium_browser()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    """A fresh browser context already signed in through the login page; a test fails when the page's
    Content-Security-Policy blocked anything it loads or runs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_default_timeout(15_000)
    page.goto(server.url + "/ui/datasets")
    assert "/ui/login" in page.url  # no key yet: sent to sign in, then back
    page.fill("#api-key", server.key)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/ui/datasets")
    try:
        yield page
        assert not blocked, blocked
    finally:
        context.close()
