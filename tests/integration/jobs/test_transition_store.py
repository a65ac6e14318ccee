"""transition() and the event log against real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from job_factories import make_job, make_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.jobs import Job, JobEvent
from lorapipe.errors import InvalidTransitionError, NotFoundError
from lorapipe.jobs import store
from lorapipe.jobs.events import append_event
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.transition import transition

pytestmark = pytest.mark.integration


def test_transition_writes_status_and_an_event_with_the_reason(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        job = make_job(s, make_user(s), JobStatus.QUEUED)
        transition(s, job, JobStatus.PROVISIONING, "picked by reconciler")
        transition(s, job, JobStatus.RUNNING, "process started")
        err = JobError(code="engine_crashed", message="exit 1", kind="system")
        transition(s, job, JobStatus.FAILED, "child exited 1", error=err)
        job_id = job.id
    with session_scope(sessions) as s:
        row = s.get(Job, job_id)
        assert row is not None
        assert row.status == "failed" and row.status_reason == "child exited 1"
        assert row.error == {"code": "engine_crashed", "message": "exit 1", "param": None, "kind": "system"}
        assert row.started_at is not None and row.finished_at is not None
        events = list(s.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)))
        assert [e.seq for e in events] == [1, 2, 3]
        assert [e.data["to"] for e in events if e.data] == ["provisioning", "running", "failed"]
        assert events[-1].level == "error" and "child exited 1" in events[-1].message


def test_illegal_transition_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        job = make_job(s, make_user(s), JobStatus.SUCCEEDED)
        with pytest.raises(InvalidTransitionError):
            transition(s, job, JobStatus.RUNNING, "should not happen")
        assert s.scalar(select(JobEvent).where(JobEvent.job_id == job.id)) is None
        assert job.status == "succeeded"


def test_failed_requires_an_error(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        job = make_job(s, make_user(s), JobStatus.RUNNING)
        with pytest.raises(ValueError, match="needs an error"):
            transition(s, job, JobStatus.FAILED, "no reason object")


def test_stale_writer_loses_the_race(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        job_id = make_job(s, make_user(s), JobStatus.QUEUED).id
    first, second = sessions(), sessions()
    try:
        a, b = first.get(Job, job_id), second.get(Job, job_id)
        assert a is not None and b is not None
        transition(first, a, JobStatus.PROVISIONING, "reconciler A")
        first.commit()
        with pytest.raises(InvalidTransitionError, match="moved to provisioning"):
            transition(second, b, JobStatus.PROVISIONING, "reconciler B")
        second.rollback()
    finally:
        first.close()
        second.close()
    with session_scope(sessions) as s:
        assert len(list(s.scalars(select(JobEvent).where(JobEvent.job_id == job_id)))) == 1


def test_engine_event_unique_per_attempt_seq_and_status_check(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        job = make_job(s, make_user(s))
        job_id = job.id
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(JobEvent(id="ftevent-dup", job_id=job_id, seq=1, type="message", message="x"))
        s.flush()
        s.add(JobEvent(id="ftevent-dup2", job_id=job_id, seq=1, type="message", message="y"))
        s.flush()
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.execute(Job.__table__.update().where(Job.id == job_id).values(status="completed"))


def test_owned_lookup_and_keyset_pages(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        alice, bob = make_user(s), make_user(s)
        ids = [make_job(s, alice).id for _ in range(5)]
        bobs = make_job(s, bob).id
        for i in range(7):
            append_event(s, ids[0], type="message", message=f"m{i}")
    with session_scope(sessions) as s:
        with pytest.raises(NotFoundError):
            store.get_job(s, alice.id, bobs)
        first = store.list_jobs(s, alice.id, None, 2)
        assert len(first.items) == 2 and first.has_more
        seen = [j.id for j in first.items]
        page = first
        while page.has_more:
            page = store.list_jobs(s, alice.id, seen[-1], 2)
            seen += [j.id for j in page.items]
        assert sorted(seen) == sorted(ids) and len(seen) == 5
        job = store.get_job(s, alice.id, ids[0])
        ev = store.list_events(s, job, None, 3)
        assert [e.message for e in ev.items] == ["m6", "m5", "m4"] and ev.has_more
        ev2 = store.list_events(s, job, ev.items[-1].id, 10)
        assert [e.message for e in ev2.items] == ["m3", "m2", "m1", "m0"] and not ev2.has_more
