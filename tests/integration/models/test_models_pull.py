"""``lorapipe models pull`` against a hub on loopback: the real huggingface_hub client, the real CLI.

The hub serves the tiny Qwen3 model (``save_pretrained`` output) the way huggingface.co does: model
info with its commit, a recursive tree listing with sizes (the weights as an LFS file), and
``resolve/<rev>/<file>`` answering small files itself (``ETag`` = git blob id) and redirecting the
weights to a CDN host (``X-Linked-Etag`` = sha256, ``X-Linked-Size``) that honours ``Range``. The CLI
runs as a child process because huggingface_hub reads ``HF_ENDPOINT`` when it is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lorapipe.cli.main import app
from lorapipe.models.sources import load_model
from lorapipe.models.tiny import TINY_QWEN3, tiny_model_dir
from lorapipe.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO = "lorapipe-test/tiny-pull"
COMMIT = hashlib.sha1(b"the one commit of the test repo").hexdigest()
WEIGHTS = "model.safetensors"
TOKEN_ENV = "LP_TEST_HUB_TOKEN"


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


@pytest.fixture(scope="module")
def model_files(model_settings: Settings) -> dict[str, bytes]:
    """The tiny Qwen3 model's save_pretrained files, as the hub repo serves them."""
    folder = tiny_model_dir(TINY_QWEN3, model_settings)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def hub(model_files: dict[str, bytes]) -> Iterator[FakeHub]:
    state = FakeHub(files=model_files)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def pull(hub: FakeHub, dest: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``lorapipe models pull`` in a child process whose hub is ``hub``."""
    child_env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_OFFLINE": "0",
        "LORAPIPE_DATA_DIR": str(dest.parent / "data"),
        **env,
    }
    child_env.pop("HF_TOKEN", None)
    command = [sys.executable, "-m", "lorapipe.cli.main", "models", "pull", REPO, "--to", str(dest), *args]
    return subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=90, check=False)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_pulled_model_is_what_the_engine_loads_from_that_cache(
    hub: FakeHub, model_files: dict[str, bytes], model_settings: Settings, tmp_path: Path
) -> None:
    import torch

    hub.token = "test-token-7f3a"
    dest = tmp_path / "models"
    done = pull(hub, dest, "--token-env", TOKEN_ENV, **{TOKEN_ENV: hub.token})
    assert done.returncode == 0, done.stderr
    assert f"at commit {COMMIT}" in done.stdout
    assert f"LORAPIPE_WORKER_MODEL_CACHE_DIR={dest.resolve()}\n" in done.stdout
    assert hub.token not in done.stdout + done.stderr
    snapshot = dest / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    for name, data in model_files.items():
        assert sha256_file(snapshot / name) == hashlib.sha256(data).hexdigest(), name
    # Every byte of the weights crossed the wire once, over the CDN redirect without the token.
    assert sum(r.body_bytes for r in hub.served("/cdn/")) == len(model_files[WEIGHTS])
    assert not any(r.auth for r in hub.served("/cdn/"))

    requests_before = len(hub.log)
    settings = Settings(data_dir=tmp_path / "engine", model_cache_dir=dest)
    model = load_model(REPO, settings, dtype="float32")
    assert len(hub.log) == requests_before  # loaded from the cache, the hub not asked
    source = load_model(TINY_QWEN3, model_settings, dtype="float32")
    for (name, pulled), (_, original) in zip(
        model.state_dict().items(), source.state_dict().items(), strict=True
    ):
        assert torch.equal(pulled, original), name


def test_an_interrupted_pull_continues_from_the_bytes_on_disk(
    hub: FakeHub, model_files: dict[str, bytes], tmp_path: Path
) -> None:
    weights = model_files[WEIGHTS]
    dest = tmp_path / "models"
    hub.cut_weights_once = True
    first = pull(hub, dest)
    assert first.returncode == 2, first.stdout + first.stderr
    assert "run the same command again to continue" in first.stderr
    blobs = dest / "hub" / f"models--{REPO.replace('/', '--')}" / "blobs"
    partial = blobs / f"{hashlib.sha256(weights).hexdigest()}.incomplete"
    kept = partial.stat().st_size
    assert 0 < kept < len(weights)

    hub.weights_down = False
    served_before = len(hub.served("/cdn/"))
    second = pull(hub, dest)
    assert second.returncode == 0, second.stderr
    resumed = [r for r in hub.served("/cdn/")[served_before:] if r.method == "GET"]
    assert [r.range for r in resumed] == [f"bytes={kept}-"]
    assert resumed[0].body_bytes == len(weights) - kept
    assert sum(r.body_bytes for r in hub.served("/cdn/")) < 2 * len(weights)
    snapshot = blobs.parent / "snapshots" / COMMIT
    assert sha256_file(snapshot / WEIGHTS) == hashlib.sha256(weights).hexdigest()
    assert not partial.exists()


def test_a_silent_hub_ends_the_pull_at_the_stall_limit(hub: FakeHub, tmp_path: Path) -> None:
    hub.stall_weights = True
    started = time.monotonic()
    done = pull(hub, tmp_path / "models", LORAPIPE_HUB_STALL_S="2", LORAPIPE_HUB_TIMEOUT_S="600")
    seconds = time.monotonic() - started
    assert done.returncode == 2
    assert f"pulling {REPO} from the hub at {hub.endpoint} made no progress for 2 s" in done.stderr
    assert seconds < 60, seconds  # the 600 s read timeout would still be waiting


def test_a_gated_model_names_the_token_variable(hub: FakeHub, tmp_path: Path) -> None:
    hub.gated = True
    done = pull(hub, tmp_path / "models", "--token-env", "MY_GATED_TOKEN")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert f"{REPO} is gated" in message and "set the environment variable MY_GATED_TOKEN" in message


def test_too_little_disk_space_is_refused_before_any_download(hub: FakeHub, tmp_path: Path) -> None:
    hub.listed_weights_size = 1 << 60  # an exabyte: no test disk has it
    done = pull(hub, tmp_path / "models")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "[invalid_config] --to" in message and "GB more" in message
    assert not hub.served(f"/{REPO}/resolve/") and not hub.served("/cdn/")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["not a repo", "--to", "{tmp}/m"], "HF_ID 'not a repo' is not a hub model id"),
        (["a/b@main", "--to", "{tmp}/m"], "a revision goes in --revision"),
        ([REPO, "--to", "{tmp}/file"], "is a file; it must be a folder"),
        ([REPO, "--to", "{tmp}/m", "--token-env", "hf_abcdefghijklmnopqrstuvwxyz0123"], "--token-env takes"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(args: list[str], expected: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    argv = ["models", "pull", *(a.format(tmp=tmp_path) for a in args)]
    result = CliRunner().invoke(app, argv, env={"LORAPIPE_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
