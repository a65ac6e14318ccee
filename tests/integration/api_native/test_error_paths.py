"""A failed job's error, status reason and events name what failed, never a server path or object key
(whatever part of the service wrote them: engine, backend, reconciler)."""

from __future__ import annotations

import pytest
from native_app import Native, start_attempt

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.jobs import Job
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.transition import transition

pytestmark = pytest.mark.integration

RAW = "No such file or directory: '/srv/lorapipe/objects/datasets/ds-1a2b/canonical.jsonl'"


def test_a_failed_jobs_error_names_no_paths(native_sqlite: Native) -> None:
    native = native_sqlite
    job_id = native.job("alice")
    start_attempt(native.sessions, job_id)
    with session_scope(native.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        error = JobError(code="engine_failed", message=f"the engine exited with code 1: {RAW}", kind="user")
        transition(s, job, JobStatus.FAILED, f"attempt 1 failed: {error.message}", error=error)

    shown = native.client.get(f"/v1/fine_tuning/jobs/{job_id}", headers=native.auth("alice")).json()
    assert (
        shown["error"]["message"]
        == "the engine exited with code 1: No such file or directory: 'canonical.jsonl'"
    )
    events = native.client.get(f"/v1/fine_tuning/jobs/{job_id}/events", headers=native.auth("alice")).text
    assert "/srv/" not in events and "ds-1a2b" not in events and "canonical.jsonl" in events
