"""Hostile path, query and body values against a live server (uvicorn, real sockets) on SQLite and
PostgreSQL: each is a 400 that names the parameter, and the keep-alive connection that carried it
still serves the next request (an unhandled error would answer 500 and close it)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from native_app import EQ12, _pg_url

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.datasets import Dataset
from lorapipe.db.jobs import FileObject
from lorapipe.db.migrate import upgrade
from lorapipe.server import create_app
from lorapipe.services import accounts
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

INT4_OVER = 2**31
NUL = "%00"


@dataclass
class Live:
    host: str
    port: int
    headers: dict[str, str]
    job_id: str
    file_id: str
    url: str

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("hostile")
    pg = _pg_url() if request.param == "postgres" else None
    url = next(pg) if pg is not None else f"sqlite:///{tmp / 'api.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    with session_scope(make_sessionmaker(engine)) as s:
        _, key = accounts.create_api_key(s, accounts.create_user(s, "mallory"))
    engine.dispose()
    app = create_app(Settings(data_dir=tmp / "data", database_url=url), run_reconciler=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            r = c.post(
                "/v1/files", files={"file": ("eq12.jsonl", EQ12.read_bytes())}, data={"purpose": "fine-tune"}
            )
            assert r.status_code == 200, r.text
            file_id = r.json()["id"]
            body = {"model": "lorapipe/tiny-qwen3", "training_file": file_id, "preset": "cpu-smoke"}
            r = c.post("/v1/fine_tuning/jobs", json=body)
            assert r.status_code == 200, r.text
        yield Live("127.0.0.1", port, headers, r.json()["id"], file_id, url)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if pg is not None:
            next(pg, None)


def _job(live: Live, **fields: Any) -> dict[str, Any]:
    return {"model": "lorapipe/tiny-qwen3", "training_file": live.file_id, "preset": "cpu-smoke", **fields}


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (method, path, JSON body or raw bytes or None, extra headers, the parameter the 400 must name)
CASES: list[tuple[str, str, Any, dict[str, str], str]] = [
    # NUL as an id, on every route that takes one
    ("GET", f"/v1/files/{NUL}", None, {}, "file_id"),
    ("GET", f"/v1/fine_tuning/jobs/{NUL}", None, {}, "job_id"),
    ("POST", f"/v1/fine_tuning/jobs/{NUL}/cancel", None, {}, "job_id"),
    ("GET", f"/v1/fine_tuning/jobs/{NUL}/events", None, {}, "job_id"),
    ("GET", f"/v1/fine_tuning/jobs/{NUL}/checkpoints", None, {}, "job_id"),
    ("GET", f"/v1/models/{NUL}", None, {}, "model_id"),
    ("GET", f"/api/datasets/{NUL}", None, {}, "dataset_id"),
    ("GET", f"/api/datasets/{NUL}/report", None, {}, "dataset_id"),
    ("GET", f"/api/datasets/{NUL}/examples", None, {}, "dataset_id"),
    ("DELETE", f"/api/datasets/{NUL}", None, {}, "dataset_id"),
    ("GET", f"/api/jobs/{NUL}", None, {}, "job_id"),
    ("GET", f"/api/jobs/{NUL}/metrics", None, {}, "job_id"),
    ("GET", f"/api/jobs/{NUL}/stream", None, {}, "job_id"),
    ("POST", f"/api/jobs/{NUL}/cancel", None, {}, "job_id"),
    ("GET", f"/api/adapters/{NUL}", None, {}, "adapter_id"),
    ("GET", f"/api/adapters/{NUL}/download", None, {}, "adapter_id"),
    ("GET", f"/api/adapters/{NUL}/files/x", None, {}, "adapter_id"),
    ("GET", f"/api/adapters/ftmodel-1/files/a{NUL}", None, {}, "path"),
    ("DELETE", f"/api/adapters/{NUL}", None, {}, "adapter_id"),
    ("GET", f"/api/presets/{NUL}", None, {}, "name"),
    ("GET", f"/api/models/{NUL}", None, {}, "model_id"),
    ("GET", f"/api/notifications/{NUL}", None, {}, "notification_id"),
    ("POST", f"/api/notifications/{NUL}/read", None, {}, "notification_id"),
    ("GET", f"/api/webhooks/{NUL}", None, {}, "webhook_id"),
    ("DELETE", f"/api/webhooks/{NUL}", None, {}, "webhook_id"),
    ("POST", f"/api/webhooks/{NUL}/test", None, {}, "webhook_id"),
    ("GET", f"/api/webhooks/{NUL}/deliveries", None, {}, "webhook_id"),
    # NUL and control characters in cursors and filters
    ("GET", f"/v1/files?after={NUL}", None, {}, "after"),
    ("GET", f"/v1/fine_tuning/jobs?after={NUL}", None, {}, "after"),
    ("GET", "/v1/fine_tuning/jobs/{job}/events?after=%00", None, {}, "after"),
    ("GET", "/v1/fine_tuning/jobs/{job}/checkpoints?after=%1f", None, {}, "after"),
    ("GET", f"/api/webhooks/wh-1/deliveries?after={NUL}", None, {}, "after"),
    ("GET", f"/api/datasets?q={NUL}", None, {}, "q"),
    ("GET", f"/api/costs?job_id={NUL}", None, {}, "job_id"),
    # integers past PostgreSQL's int4
    ("GET", f"/api/jobs/{{job}}/metrics?after_step={INT4_OVER}", None, {}, "after_step"),
    ("GET", f"/api/jobs/{{job}}/stream?after={INT4_OVER}", None, {}, "after"),
    ("GET", "/api/jobs/{job}/stream", None, {"Last-Event-ID": "999999999999"}, "Last-Event-ID"),
    ("POST", "/v1/fine_tuning/jobs", "job:timeout_s", {}, "timeout_s"),
    # dates past what a day after them can be
    ("GET", "/api/costs?start=9999-12-30&end=9999-12-31", None, {}, "start"),
    ("GET", "/api/costs/summary?start=9999-12-31&end=9999-12-31", None, {}, "start"),
    ("GET", "/api/costs.csv?start=2026-01-01&end=9999-12-31", None, {}, "end"),
    ("GET", "/api/costs?start=0001-01-01&end=0001-01-02", None, {}, "start"),
    # bodies: NUL in a string, nesting too deep, loose types, metadata over OpenAI's caps
    ("POST", "/v1/fine_tuning/jobs", "job:metadata_nul", {}, "metadata.a"),
    ("PATCH", "/api/datasets/ds-1", {"description": "a\u0000b"}, {}, "description"),
    ("PUT", "/api/budget", _deep(100_000), {}, "body"),
    ("POST", "/v1/fine_tuning/jobs", _deep(200), {}, "body"),
    ("PUT", "/api/budget", {"monthly_usd": False}, {}, "monthly_usd"),
    ("PUT", "/api/budget", {"monthly_usd": "12"}, {}, "monthly_usd"),
    ("POST", "/v1/fine_tuning/jobs", "job:n_epochs_banana", {}, "hyperparameters.n_epochs"),
    ("POST", "/v1/fine_tuning/jobs", "job:batch_size_lots", {}, "hyperparameters.batch_size"),
    ("POST", "/v1/fine_tuning/jobs", "job:n_epochs_true", {}, "hyperparameters.n_epochs"),
    ("POST", "/v1/fine_tuning/jobs", "job:lr_string", {}, "hyperparameters.learning_rate_multiplier"),
    ("POST", "/v1/fine_tuning/jobs", "job:metadata_17", {}, "metadata"),
    ("POST", "/v1/fine_tuning/jobs", "job:metadata_long_key", {}, "metadata"),
    ("POST", "/v1/fine_tuning/jobs", "job:metadata_long_value", {}, "metadata"),
    ("POST", "/v1/fine_tuning/jobs", "job:metadata_900kb", {}, "metadata"),
]

JOB_BODIES: dict[str, dict[str, Any]] = {
    "timeout_s": {"timeout_s": INT4_OVER},
    "metadata_nul": {"metadata": {"a": "x\u0000y"}},
    "n_epochs_banana": {"hyperparameters": {"n_epochs": "banana"}},
    "batch_size_lots": {"hyperparameters": {"batch_size": "lots"}},
    "n_epochs_true": {"hyperparameters": {"n_epochs": True}},
    "lr_string": {"hyperparameters": {"learning_rate_multiplier": "1.5"}},
    "metadata_17": {"metadata": {f"k{i}": "v" for i in range(17)}},
    "metadata_long_key": {"metadata": {"k" * 65: "v"}},
    "metadata_long_value": {"metadata": {"k": "v" * 513}},
    "metadata_900kb": {"metadata": {f"k{i}": "v" * 90_000 for i in range(10)}},
}


def _send(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def _body(live: Live, body: Any) -> tuple[bytes | None, dict[str, str]]:
    if body is None:
        return None, {}
    if isinstance(body, bytes):
        return body, {"Content-Type": "application/json"}
    if isinstance(body, str) and body.startswith("job:"):
        body = _job(live, **JOB_BODIES[body.removeprefix("job:")])
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "body", "extra", "param"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_a_hostile_value_is_a_400_naming_it_and_the_connection_lives_on(
    live: Live, method: str, path: str, body: Any, extra: dict[str, str], param: str
) -> None:
    data, content_headers = _body(live, body)
    conn = live.connection()
    try:
        status, raw = _send(
            conn,
            method,
            path.replace("{job}", live.job_id),
            data,
            {**live.headers, **content_headers, **extra},
        )
        assert status == 400, raw[:300]
        error = json.loads(raw)["error"]
        assert error["param"] == param, error
        assert error["kind"] == "user"
        sock = conn.sock
        status, raw = _send(conn, "GET", "/v1/files?limit=1", None, live.headers)
        assert status == 200, raw[:300]
        assert conn.sock is sock, "the server closed the keep-alive connection"
    finally:
        conn.close()


def test_a_jsonl_line_nested_100000_deep_is_a_rejected_dataset_not_a_500(live: Live) -> None:
    line = b'{"messages": ' + _deep(100_000) + b"}\n"
    with httpx.Client(base_url=f"http://{live.host}:{live.port}", headers=live.headers, timeout=60) as c:
        for body in (line, _deep(100_000) + b"\n", b'[{"messages": ' + _deep(100_000) + b"}]"):
            r = c.post("/api/datasets", params={"name": "deep"}, content=body)
            assert r.status_code == 201, r.text[:300]
            assert r.json()["status"] == "error"
            assert "nested" in r.json()["error_message"], r.json()["error_message"]


def _multipart(filename: bytes, content: bytes) -> tuple[bytes, str]:
    boundary = "hostileboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'.encode()
        + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_255_char_filename_ending_in_a_tab_leaves_no_dataset_without_its_file(live: Live) -> None:
    example = {"messages": [{"role": "user", "content": "tab?"}, {"role": "assistant", "content": "tab."}]}
    body, content_type = _multipart(b"f" * 255 + b"\t", json.dumps(example).encode() + b"\n")
    conn = live.connection()
    try:
        status, raw = _send(conn, "POST", "/v1/files", body, {**live.headers, "Content-Type": content_type})
        assert status == 200, raw[:300]
        file = json.loads(raw)
        assert file["status"] == "processed" and file["filename"] == "f" * 255
    finally:
        conn.close()
    engine = create_engine_for(live.url)
    try:
        with make_sessionmaker(engine)() as s:
            filed = {f.dataset_id for f in s.query(FileObject).all()}
            ready = {d.id for d in s.query(Dataset).filter(Dataset.status == "ready").all()}
            assert ready <= filed, "a ready dataset has no file record"
    finally:
        engine.dispose()
