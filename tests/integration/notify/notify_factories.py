"""What the notify tests share: the API handle, the webhook receiver's state and its independent
signature check, and job/attempt/dataset rows moved through the real ``transition()``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db.base import utcnow
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Attempt, FileObject, Job
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.transition import transition


@dataclass
class Api:
    client: TestClient
    sessions: sessionmaker[Session]
    alice: dict[str, str]
    bob: dict[str, str]
    alice_id: str
    bob_id: str


def standard_webhooks_verify(
    secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300
) -> bool:
    """Verification written from the Standard Webhooks spec, independent of the code under test."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, o.encode()) for o in offered)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that answers 500 to the first ``fail_first`` calls, then 200."""

    url: str
    fail_first: int = 0
    secret: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)

    def valid_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["signature_ok"]]


def queued_job(
    session: Session, owner_id: str, *, backend: str = "local", estimate: dict[str, Any] | None = None
) -> Job:
    file = FileObject(
        id=new_id("file"),
        owner_id=owner_id,
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
        owner_id=owner_id,
        status=JobStatus.QUEUED.value,
        model="tiny",
        training_file=file.id,
        seed=1,
        backend=backend,
        estimate=estimate,
    )
    session.add(job)
    session.flush()
    return job


def ended_attempt(
    session: Session,
    job: Job,
    *,
    seconds: float = 90.0,
    billing: dict[str, Any] | None = None,
    ended_at: dt.datetime | None = None,
) -> Attempt:
    end = ended_at or utcnow()
    attempt = Attempt(
        id=new_id("attempt"),
        job_id=job.id,
        number=1 + len(session.query(Attempt).filter_by(job_id=job.id).all()),
        backend=job.backend,
        status="exited",
        handle={"billing": billing} if billing else {"pid": 1},
        started_at=end - dt.timedelta(seconds=seconds),
        ended_at=end,
        exit_code=0,
    )
    session.add(attempt)
    session.flush()
    return attempt


def finished_job(session: Session, owner_id: str, outcome: JobStatus, **kwargs: Any) -> Job:
    """A job that ran once and ended ``outcome`` (succeeded, failed or cancelled)."""
    job = queued_job(session, owner_id, **kwargs)
    transition(session, job, JobStatus.PROVISIONING, "picked")
    transition(session, job, JobStatus.RUNNING, "started")
    if outcome is JobStatus.SUCCEEDED:
        transition(session, job, JobStatus.SUCCEEDED, "2 artifact(s) verified against the manifest")
    elif outcome is JobStatus.FAILED:
        error = JobError(code="disk_full", message="no space left on device", kind="system")
        transition(session, job, JobStatus.FAILED, "attempt 1 failed: no space left on device", error=error)
    else:
        transition(session, job, JobStatus.CANCELLING, "cancel requested by the user")
        transition(session, job, JobStatus.CANCELLED, "cancelled by request; the run stopped")
    return job


def validated_dataset(session: Session, owner_id: str, *, ready: bool) -> Dataset:
    ds = Dataset(owner_id=owner_id, name="eq12.jsonl", sha256=new_id("file")[-24:] * 2 + "0" * 16)
    session.add(ds)
    session.flush()
    ds.move_to(DatasetStatus.VALIDATING)
    if ready:
        ds.move_to(DatasetStatus.READY)
    else:
        ds.move_to(DatasetStatus.ERROR)
        ds.error_message = "line 3: not valid JSON"
    session.flush()
    return ds
