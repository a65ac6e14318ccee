"""The app started with its loops (as ``lorapipe serve`` does) runs the outbox worker: a job that
ends is notified and costed without anyone calling the worker by hand."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from notify_factories import ended_attempt, finished_job
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.server import create_app
from lorapipe.services import accounts
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration


def test_serve_runs_the_outbox_worker(
    migrated_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with session_scope(session_factory) as s:
        user = accounts.create_user(s, "carol")
        _, key = accounts.create_api_key(s, user)
        job = finished_job(s, user.id, JobStatus.FAILED)
        ended_attempt(s, job, seconds=30.0)
    headers = {"Authorization": f"Bearer {key}"}
    settings = Settings(data_dir=tmp_path / "data", database_url=migrated_url)
    # No backends: the reconciler has nothing to run; only the outbox worker has work.
    app = create_app(settings, run_reconciler=True, backends={}, reconciler_interval_s=0.1)
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        notes: list[dict[str, object]] = []
        while time.monotonic() < deadline and not notes:
            notes = client.get("/api/notifications", headers=headers).json()["data"]
            time.sleep(0.1)
        costs = client.get("/api/costs", headers=headers).json()["data"]
    assert [n["kind"] for n in notes] == ["job.failed"]
    assert [(c["job_id"], c["seconds"], c["usd"]) for c in costs] == [(job.id, 30.0, 0.0)]
