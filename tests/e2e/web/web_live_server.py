"""A live lorapipe server (uvicorn on 127.0.0.1, a free port, real SQLite file) and a headless
Chromium (Debian's, driven by Playwright) for the dashboard tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.migrate import upgrade
from lorapipe.server import create_app
from lorapipe.services import accounts
from lorapipe.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


@dataclass
class LiveServer:
    url: str
    key: str
    user_id: str
    sessions: sessionmaker[Session]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_server(
    tmp_path: Path, model_cache_dir: Path | None = None, *, reconciler: bool = False
) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    with session_scope(make_sessionmaker(engine)) as s:
        user = accounts.create_user(s, "dana")
        _, key = accounts.create_api_key(s, user)
        user_id = user.id
    settings = Settings(data_dir=tmp_path / "data", database_url=url, model_cache_dir=model_cache_dir)
    app = create_app(settings, run_reconciler=reconciler, reconciler_interval_s=0.2)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise RuntimeError("the server did not start")
    try:
        yield LiveServer(base, key, user_id, make_sessionmaker(engine))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def chromium_browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian's chromium is not installed (scripts/ensure-chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
