"""Request bodies through the real app: the key is checked before the body is parsed, bodies have a
size limit, and ``/v1/files`` reads its multipart body as a stream (fields before or after the file).
Whole processes and 200 MB bodies are in tests/e2e/api/test_body_limits.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import EQ12, Api
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.datasets import Dataset
from lorapipe.server import create_app
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

JOBS = "/v1/fine_tuning/jobs"
MALFORMED = b'{"model": "lorapipe/tiny-qwen3", "training_file": '


def _datasets(api: Api) -> int:
    engine = create_engine_for(str(api.settings.database_url))
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            return int(s.scalar(select(func.count()).select_from(Dataset)) or 0)
    finally:
        engine.dispose()


def test_unauthenticated_malformed_json_is_a_401_not_a_schema_error(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer lp-not-a-key"}, {"Authorization": "Basic x"}):
        r = api.client.post(JOBS, content=MALFORMED, headers={"content-type": "application/json", **headers})
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert "training_file" not in r.text
    for method, path in (("PUT", "/api/budget"), ("PATCH", "/api/datasets/x"), ("POST", "/api/webhooks")):
        r = api.client.request(method, path, content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 401, (method, path, r.text)
    # With a valid key the same body is the schema error it is.
    r = api.client.post(JOBS, content=MALFORMED, headers={"content-type": "application/json", **api.alice})
    assert r.status_code == 400


def test_json_bodies_over_the_limit_are_413(api: Api) -> None:
    limit = api.settings.max_json_body_bytes
    big = b'{"model": "' + b"m" * limit + b'"}'
    declared = api.client.post(JOBS, content=big, headers={"content-type": "application/json", **api.alice})
    assert declared.status_code == 413, declared.text
    assert declared.json()["error"]["code"] == "file_too_large"
    # Chunked: no Content-Length, counted as it arrives.
    chunks = iter([big[:1000], big[1000:]])
    counted = api.client.post(JOBS, content=chunks, headers={"content-type": "application/json", **api.alice})
    assert counted.status_code == 413, counted.text


def test_files_fields_may_come_before_or_after_the_file(api: Api) -> None:
    body = EQ12.read_bytes()
    boundary = "b0undary"

    def multipart(*parts: tuple[str, bytes, str | None]) -> bytes:
        out = b""
        for name, value, filename in parts:
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            out += f"--{boundary}\r\ncontent-disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        return out + f"--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}", **api.alice}
    after = multipart(("file", body, "eq.jsonl"), ("purpose", b"fine-tune", None))
    r = api.client.post("/v1/files", content=after, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["filename"], r.json()["bytes"], r.json()["status"]) == (
        "eq.jsonl",
        len(body),
        "processed",
    )

    before = _datasets(api)
    wrong = multipart(("file", body + b"\n", "eq.jsonl"), ("purpose", b"assistants", None))
    r = api.client.post("/v1/files", content=wrong, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
    assert _datasets(api) == before  # a purpose refused after the file leaves nothing behind

    for bad, param in (
        (multipart(("purpose", b"fine-tune", None)), "file"),
        (multipart(("purpose", b"fine-tune", None), ("file", body, "eq.jsonl"))[:-10], "file"),
    ):
        r = api.client.post("/v1/files", content=bad, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    r = api.client.post("/v1/files", content=body, headers={"content-type": "application/json", **api.alice})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    assert _datasets(api) == before


@pytest.fixture
def single_user(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "single")
    with TestClient(create_app(settings, run_reconciler=False, single_user="local")) as client:
        yield client


def test_single_user_mode_still_takes_bodies_without_a_key(single_user: TestClient) -> None:
    r = single_user.post(JOBS, content=MALFORMED, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    r = single_user.put("/api/budget", json={"monthly_usd": 10})
    assert r.status_code == 200, r.text
    r = single_user.post(JOBS, json={}, headers={"Authorization": "Bearer lp-not-a-key"})
    assert r.status_code == 401  # a key that is sent is checked
