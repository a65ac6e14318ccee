"""What every dashboard browser test of the adapter, costs, notifications, settings and layout pages
shares: a signed-in Chromium context at a given width, a watcher that fails the test on a console error,
an uncaught exception or a 4xx/5xx the page requested, and where screenshots go."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web_live_server import LiveServer

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1440, "height": 900}
SCREENSHOTS = Path(
    os.environ.get("LORAPIPE_SCREENSHOT_DIR", Path(__file__).parents[3] / "test-output" / "screenshots")
)


@dataclass
class Watch:
    """Problems a page showed: console errors, uncaught exceptions, failed requests of its own."""

    problems: list[str] = field(default_factory=list)
    #: Documents expected to answer with an error status (a not-found page is a 404 by design).
    expected: set[str] = field(default_factory=set)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # The browser logs an expected error document (a 404 page) as a failed load: not a problem.
        url = (message.location or {}).get("url")
        if message.type == "error" and url not in self.expected:
            self.problems.append(f"console error: {message.text} ({url})")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.url not in self.expected:
            self.problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@contextmanager
def signed_in(
    browser: Any, server: LiveServer, viewport: dict[str, int], key: str | None = None
) -> Iterator[tuple[Any, Watch]]:
    """A fresh context at ``viewport`` signed in through the login page; the watch is checked at the end."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = Watch()
    watch.attach(page)
    try:
        page.goto(server.url + "/ui/login")
        page.fill("#api-key", key or server.key)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/ui/")
        yield page, watch
        watch.check()
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))
