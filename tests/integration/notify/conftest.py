"""Notifications, webhooks and costs on real SQLite and PostgreSQL (the root ``migrated_url``), with
the real API app, two users, and a webhook receiver on 127.0.0.1 that checks signatures itself."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from notify_factories import Api, Receiver, standard_webhooks_verify
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db import session_scope
from lorapipe.server import create_app
from lorapipe.services import accounts
from lorapipe.settings import Settings


@pytest.fixture
def allow_private_targets() -> bool:
    """``LORAPIPE_WEBHOOK_ALLOW_PRIVATE_TARGETS`` of the app under test: off, as by default. A module
    whose webhooks go to the loopback receiver overrides this fixture to True."""
    return False


@pytest.fixture
def api(
    migrated_url: str, session_factory: sessionmaker[Session], tmp_path: Path, allow_private_targets: bool
) -> Iterator[Api]:
    """The real app (no reconciler thread) on a migrated database, with users alice and bob."""
    keys: dict[str, dict[str, str]] = {}
    ids: dict[str, str] = {}
    with session_scope(session_factory) as s:
        for name in ("alice", "bob"):
            user = accounts.create_user(s, name)
            _, secret = accounts.create_api_key(s, user)
            keys[name], ids[name] = {"Authorization": f"Bearer {secret}"}, user.id
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=migrated_url,
        webhook_allow_private_targets=allow_private_targets,
    )
    with TestClient(create_app(settings, run_reconciler=False)) as client:
        yield Api(client, session_factory, keys["alice"], keys["bob"], ids["alice"], ids["bob"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with lock:
                ok = bool(state.secret) and standard_webhooks_verify(state.secret, headers, body)
                state.calls.append(
                    {"headers": headers, "body": json.loads(body), "signature_ok": ok, "at": time.monotonic()}
                )
                fail = len(state.calls) <= state.fail_first
            self.send_response(500 if fail else 200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"no" if fail else b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
