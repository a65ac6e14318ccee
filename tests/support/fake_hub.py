"""A Hugging Face hub on 127.0.0.1 serving one model repo, for the REAL huggingface_hub client.

:class:`FakeHub` serves the routes huggingface_hub 2.4 calls for ``snapshot_download`` and file
downloads, read from its ``hf_api.py``, ``file_download.py`` and ``utils/_http.py``:

* ``GET /api/models/<repo>[/revision/main]``: model info with ``sha`` (the commit) and ``siblings``;
* ``GET /api/models/<repo>/tree/<commit>?recursive=True``: every file with ``size`` and ``oid`` (the git
  blob id), the weights with ``lfs`` (``oid`` = sha256, ``size``) as an LFS file;
* ``HEAD|GET /<repo>/resolve/<main|commit>/<file>``: a small file answered here (``ETag`` = git blob id,
  ``X-Repo-Commit``); the weights redirected (302) to a CDN on another host name (``localhost``), with
  ``X-Linked-Etag`` / ``X-Linked-Size``, so the client neither follows it for metadata nor sends its token
  there (plain HTTP files: no ``X-Xet-*`` headers, so no Xet transfer);
* ``GET /cdn/<sha256>``: the weights, honouring ``Range: bytes=N-`` (206 with ``Content-Range``).

Misbehaviours a test switches on: a required token, a gated repo (401 ``X-Error-Code: GatedRepo``), a
weights transfer cut half way (then 503 until cleared), a transfer that goes silent, a tree listing that
claims a larger size. Every request is recorded in :attr:`FakeHub.log`.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPO = "lorapipe-test/tiny-pull"
COMMIT = hashlib.sha1(b"the one commit of the test repo").hexdigest()
WEIGHTS = "model.safetensors"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int
    auth: bool


@dataclass
class FakeHub:
    """What the loopback hub serves and how it misbehaves; ``log`` records every request."""

    files: dict[str, bytes]
    port: int = 0
    token: str | None = None  # when set, every route wants "Authorization: Bearer <token>"
    gated: bool = False  # resolve answers 401 GatedRepo (as for a gated model without access)
    cut_weights_once: bool = False  # the first weights request is cut after half the file ...
    weights_down: bool = False  # ... and later ones get 503 until a test clears this
    stall_weights: bool = False  # the weights stop after a quarter and the connection stays silent
    listed_weights_size: int | None = None  # the size the tree listing claims for the weights
    log: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def served(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.path.startswith(prefix)]


def make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    sha256 = {name: hashlib.sha256(data).hexdigest() for name, data in hub.files.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self.route(head=True)

        def do_GET(self) -> None:
            self.route(head=False)

        def record(self, status: int, body_bytes: int) -> None:
            with hub.lock:
                hub.log.append(
                    Request(
                        self.command,
                        self.path,
                        self.headers.get("Range"),
                        status,
                        body_bytes,
                        auth="Authorization" in self.headers,
                    )
                )

        def answer(self, status: int, body: bytes, head: bool, **headers: str) -> None:
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            if not head:
                self.wfile.write(body)
            self.record(status, 0 if head else len(body))

        def route(self, head: bool) -> None:
            path = self.path.split("?")[0]
            on_hub = not path.startswith("/cdn/")  # the CDN's URLs are signed; it never sees the token
            if on_hub and hub.token and self.headers.get("Authorization") != f"Bearer {hub.token}":
                return self.answer(401, b'{"error": "Invalid credentials"}', head)
            if path in (f"/api/models/{REPO}", f"/api/models/{REPO}/revision/main"):
                siblings = [{"rfilename": n} for n in hub.files]
                body = json.dumps({"id": REPO, "sha": COMMIT, "private": False, "siblings": siblings})
                return self.answer(200, body.encode(), head, Content_Type="application/json")
            if path == f"/api/models/{REPO}/tree/{COMMIT}":
                return self.answer(
                    200, json.dumps(self.tree()).encode(), head, Content_Type="application/json"
                )
            for rev in ("main", COMMIT):
                prefix = f"/{REPO}/resolve/{rev}/"
                if path.startswith(prefix) and path[len(prefix) :] in hub.files:
                    return self.resolve(path[len(prefix) :], head)
            if path.startswith("/cdn/") and path[5:] == sha256[WEIGHTS]:
                return self.weights(head)
            return self.answer(404, b"{}", head, X_Error_Code="EntryNotFound")

        def tree(self) -> list[dict[str, Any]]:
            entries = []
            for name, data in hub.files.items():
                entry: dict[str, Any] = {
                    "type": "file",
                    "path": name,
                    "size": len(data),
                    "oid": git_blob_id(data),
                }
                if name == WEIGHTS:
                    size = hub.listed_weights_size or len(data)
                    entry.update(size=size, lfs={"oid": sha256[name], "size": size, "pointerSize": 134})
                entries.append(entry)
            return entries

        def resolve(self, name: str, head: bool) -> None:
            if hub.gated:
                body = f'{{"error": "Access to model {REPO} is restricted."}}'.encode()
                return self.answer(401, body, head, X_Error_Code="GatedRepo")
            data = hub.files[name]
            if name == WEIGHTS:  # an LFS file: the hub redirects to another host
                return self.answer(
                    302,
                    b"",
                    head,
                    Location=f"http://localhost:{hub.port}/cdn/{sha256[name]}",
                    X_Linked_Etag=f'"{sha256[name]}"',
                    X_Linked_Size=str(len(data)),
                    X_Repo_Commit=COMMIT,
                    ETag=f'"{git_blob_id(data)}"',
                )
            return self.answer(200, data, head, ETag=f'"{git_blob_id(data)}"', X_Repo_Commit=COMMIT)

        def weights(self, head: bool) -> None:
            data = hub.files[WEIGHTS]
            if not head and hub.weights_down:
                return self.answer(503, b"down for the test", head)
            start = 0
            asked = self.headers.get("Range")
            if asked:
                start = int(asked.removeprefix("bytes=").split("-")[0])
            part = data[start:]
            self.send_response(206 if asked else 200)
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{sha256[WEIGHTS]}"')
            if asked:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if head:
                return self.record(200, 0)
            if hub.cut_weights_once:
                hub.cut_weights_once, hub.weights_down = False, True
                sent = len(data) // 2
                self.wfile.write(part[:sent])
                self.wfile.flush()
                self.record(206 if asked else 200, sent)
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return None
            if hub.stall_weights:
                sent = len(data) // 4
                self.wfile.write(part[:sent])
                self.wfile.flush()
                self.record(200, sent)
                hub.release.wait(60)
                self.close_connection = True
                return None
            self.wfile.write(part)
            return self.record(206 if asked else 200, len(part))

    return Handler


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[FakeHub]:
    """A running :class:`FakeHub` serving ``files`` as repo :data:`REPO`, stopped at the end."""
    state = FakeHub(files=files)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
