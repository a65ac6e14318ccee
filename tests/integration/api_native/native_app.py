"""The API app on a real SQLite file (or PostgreSQL) with two users, and rows the native tests need:
jobs made through the real /v1 create path, events appended through the job store, adapters with
real files and a manifest."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Adapter, Attempt, Job, MetricPoint
from lorapipe.db.migrate import upgrade
from lorapipe.jobs.events import append_event
from lorapipe.jobs.transition import transition
from lorapipe.server import create_app
from lorapipe.services import accounts
from lorapipe.settings import Settings

EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@dataclass
class Native:
    client: TestClient
    settings: Settings
    sessions: sessionmaker[Session]
    keys: dict[str, str]
    user_ids: dict[str, str]
    tmp: Path

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def upload(self, user: str, body: bytes, **params: str) -> Any:
        return self.client.post(
            "/api/datasets", headers=self.auth(user), params={"name": "ds", **params}, content=body
        )

    def job(self, name: str) -> str:
        """A queued job of user ``name`` on the tiny model, created through POST /v1/fine_tuning/jobs."""
        r = self.client.post(
            "/v1/files",
            headers=self.auth(name),
            files={"file": ("eq12.jsonl", EQ12.read_bytes())},
            data={"purpose": "fine-tune"},
        )
        assert r.status_code == 200, r.text
        body = {"model": "lorapipe/tiny-qwen3", "training_file": r.json()["id"], "preset": "cpu-smoke"}
        r = self.client.post("/v1/fine_tuning/jobs", headers=self.auth(name), json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])


def _pg_url() -> Iterator[str]:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
    except psycopg.Error:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (scripts/ensure-postgres)")
    name = "lp_native_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def build_native(
    request: pytest.FixtureRequest, tmp_path: Path, model_cache_dir: Path | None = None
) -> Iterator[Native]:
    if getattr(request, "param", "sqlite") == "postgres":
        gen = _pg_url()
        url = next(gen)
        request.addfinalizer(lambda: next(gen, None))
    else:
        url = f"sqlite:///{tmp_path / 'api.db'}"
    settings = Settings(data_dir=tmp_path / "data", database_url=url, model_cache_dir=model_cache_dir)
    upgrade(url)
    engine = create_engine_for(url)
    sessions = make_sessionmaker(engine)
    keys, ids = {}, {}
    with session_scope(sessions) as s:
        for name in ("alice", "bob"):
            user = accounts.create_user(s, name)
            _, keys[name] = accounts.create_api_key(s, user)
            ids[name] = user.id
    app = create_app(settings, run_reconciler=False)
    try:
        with TestClient(app) as client:
            yield Native(client, settings, sessions, keys, ids, tmp_path)
    finally:
        engine.dispose()


def start_attempt(sessions: sessionmaker[Session], job_id: str) -> str:
    """Move a queued job to running with an attempt, as the reconciler does; return the attempt id."""
    with session_scope(sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        transition(s, job, JobStatus.PROVISIONING, "test: submitted")
        attempt = Attempt(id=new_id("attempt"), job_id=job_id, number=1, backend="local", status="running")
        s.add(attempt)
        s.flush()
        transition(s, job, JobStatus.RUNNING, "test: the engine started")
        return attempt.id


def add_metrics(
    sessions: sessionmaker[Session], job_id: str, attempt_id: str, step: int, **values: Any
) -> None:
    """One engine metrics event and its metric point, as ingestion stores them."""
    with session_scope(sessions) as s:
        data = {"phase": "train", "step": step, "total_steps": 8, **values, "engine_type": "metrics"}
        append_event(s, job_id, type="metrics", message=f"Step {step}/8", data=data, attempt_id=attempt_id)
        s.add(
            MetricPoint(job_id=job_id, attempt_id=attempt_id, step=step, values={"total_steps": 8, **values})
        )


def finish(sessions: sessionmaker[Session], job_id: str, to: JobStatus = JobStatus.SUCCEEDED) -> None:
    with session_scope(sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        transition(s, job, to, "test: finished")


def make_adapter(native: Native, owner: str, job_id: str, files: dict[str, bytes]) -> str:
    """An adapter whose folder holds ``files`` and a manifest listing them (as a verified run leaves)."""
    out = native.tmp / f"adapter-{job_id}"
    listed = []
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        listed.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"version": 1, "files": listed}
    (out / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    adapter_id = new_id("adapter")
    with session_scope(native.sessions) as s:
        s.add(
            Adapter(
                id=adapter_id,
                owner_id=native.user_ids[owner],
                job_id=job_id,
                name=f"ft:tiny-qwen3:{job_id}",
                base_model="lorapipe/tiny-qwen3",
                location=str(out),
                manifest=manifest,
                size_bytes=sum(len(d) for d in files.values()),
            )
        )
        job = s.get(Job, job_id)
        assert job is not None
        job.fine_tuned_model = f"ft:tiny-qwen3:{job_id}"
    return adapter_id
