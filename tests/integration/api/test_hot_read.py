"""The job read as one statement (a cached key: no session, no ORM, the revocation generation read with
the row) answers exactly what the session's read answers, every field filled; a job that is not the
caller's, or not there, is the same 404 either way. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from api_harness import Api
from test_key_cache import _job, _state

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.jobs import Job

pytestmark = pytest.mark.integration


def _fill(api: Api, job_id: str) -> None:
    """Every field a job's public object shows, set (as a finished, failed run leaves them)."""
    engine = create_engine_for(api.settings.resolved_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            job = s.get(Job, job_id)
            assert job is not None
            at = dt.datetime(2026, 12, 3, 10, 11, 12, tzinfo=dt.UTC)
            job.started_at, job.finished_at = at, at + dt.timedelta(minutes=5)
            job.status, job.status_reason = "failed", "the engine ran out of memory"
            job.error = {"code": "out_of_memory", "message": "CUDA out of memory", "param": None}
            job.meta = {"client": "ünïcode ✓", "n": "1"}
            job.suffix, job.fine_tuned_model, job.trained_tokens = "eq", "ft:x", 123_456_789_012
    finally:
        engine.dispose()


@pytest.mark.parametrize("include", [None, "estimate"])
def test_the_one_statement_read_equals_the_session_read(api: Api, include: str | None) -> None:
    job_id = _job(api)
    _fill(api, job_id)
    url = f"/v1/fine_tuning/jobs/{job_id}" + (f"?include={include}" if include else "")
    state = _state(api)
    state.keys.clear()
    first = api.client.get(url, headers=api.alice)  # the key not cached: the session's read
    assert first.status_code == 200, first.text
    assert state.keys.lookup(api.alice["Authorization"]) is not None
    hot = api.client.get(url, headers=api.alice)  # cached: the one statement
    assert hot.status_code == 200, hot.text
    assert hot.content == first.content
    body = hot.json()
    assert body["error"]["code"] == "out_of_memory" and body["metadata"]["client"] == "ünïcode ✓"
    assert body["started_at"] == int(dt.datetime(2026, 12, 3, 10, 11, 12, tzinfo=dt.UTC).timestamp())
    assert ("estimate" in body) is (include == "estimate")


def test_another_users_job_is_not_found_on_the_one_statement_path(api: Api) -> None:
    job_id = _job(api)
    url = f"/v1/fine_tuning/jobs/{job_id}"
    for _ in range(2):  # the second with bob's key cached
        r = api.client.get(url, headers=api.bob)
        assert r.status_code == 404 and r.json()["error"]["param"] == "fine_tuning_job_id", r.text
    assert _state(api).keys.lookup(api.bob["Authorization"]) is not None
    missing = api.client.get("/v1/fine_tuning/jobs/ftjob-nothere", headers=api.alice)
    assert missing.status_code == 404
