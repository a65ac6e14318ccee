"""Rows the job tests need, built through the real ORM, and the fault-injecting engine to run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.accounts import User
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import FileObject, Job
from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy
from lorapipe.storage import ObjectStore

FAKE = (sys.executable, str(Path(__file__).with_name("fake_engine.py")))
FAST = ReconcilerPolicy(interval_s=0.05, cancel_grace_s=1.0, retry_backoff_s=0.0)


def store(tmp_path: Path) -> ObjectStore:
    """The object store the reconciler verifies artifacts in (the fake engine uploads to it)."""
    return ObjectStore((tmp_path / "objects").as_uri())


def make_user(session: Session, name: str | None = None) -> User:
    user = User(id=new_id("user"), name=name or new_id("user"))
    session.add(user)
    session.flush()
    return user


def make_job(session: Session, owner: User, status: JobStatus = JobStatus.QUEUED) -> Job:
    file = FileObject(
        id=new_id("file"),
        owner_id=owner.id,
        filename="d.jsonl",
        purpose="fine-tune",
        bytes=1,
        status="processed",
    )
    session.add(file)
    session.flush()
    # Inserting the initial status is the job's creation, not a transition.
    job = Job(
        id=new_id("job"),
        owner_id=owner.id,
        status=status.value,
        model="tiny",
        training_file=file.id,
        seed=1,
        backend="local",
    )
    session.add(job)
    session.flush()
    return job


def fake_spec(job_id: str, fake: str) -> dict[str, object]:
    """A valid TrainingJobSpec whose metadata tells the fake engine what to do."""
    return {
        "job_id": job_id,
        "model": "tiny",
        "dataset": {"uri": "file:///data/d.jsonl"},
        "metadata": {"fake": fake},
    }


def queue_job(sessions: sessionmaker[Session], fake: str, max_attempts: int = 1) -> str:
    with session_scope(sessions) as s:
        job = make_job(s, make_user(s), JobStatus.QUEUED)
        job.spec = fake_spec(job.id, fake)
        job.max_attempts = max_attempts
        return job.id


def run_until(
    rec: Reconciler, sessions: sessionmaker[Session], job_id: str, done: set[str], limit_s: float = 30
) -> Job:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        rec.tick()
        with session_scope(sessions) as s:
            job = s.get(Job, job_id)
            assert job is not None
            if job.status in done:
                return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status} after {limit_s}s")
