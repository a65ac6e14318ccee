"""Helpers of the launch and monitor browser tests: a signed-in page that collects console errors and
failed requests, a file dropped from outside the browser, and waiting for the new-job page's estimate."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from web_live_server import LiveServer

TINY = "lorapipe/tiny-qwen3"


class Watched:
    """A signed-in page whose console errors and failed requests are collected."""

    def __init__(self, browser: Any, server: LiveServer, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.set_default_timeout(30_000)
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text} at {m.location.get('url')}")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "response",
            lambda r: (
                self.problems.append(f"{r.status} {r.request.method} {r.url}")
                if r.status >= 400 and r.url.startswith(server.url)
                else None
            ),
        )
        self.page.goto(server.url + "/ui/login")
        self.page.fill("#api-key", server.key)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_url("**/ui/")

    def close(self) -> None:
        self.context.close()


def drop_file(page: Any, selector: str, path: Path) -> None:
    """Drag a file from outside the browser onto ``selector`` (dragenter, dragover, drop)."""
    payload = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "application/jsonl" }));
            return dt;
        }""",
        [path.name, payload],
    )
    for kind in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, kind, {"dataTransfer": transfer})


def wait_for_estimate(page: Any) -> str:
    page.wait_for_function(
        "() => document.getElementById('est-state').textContent === ''"
        " && document.querySelectorAll('#est-vram tbody tr').length > 0"
        " && document.getElementById('estimate-panel').getAttribute('aria-busy') === 'false'"
    )
    return str(page.inner_text("#estimate-panel"))
