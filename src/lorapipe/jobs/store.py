"""Queries over the job records: owned look-ups (another user's row is "not found"), cursor pages,
and the reconciler's claim of queued jobs.

Every function takes the caller's session; none commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, defer

from lorapipe.contract.job_states import ACTIVE, JobStatus
from lorapipe.db.accounts import auth_generation_column
from lorapipe.db.base import utcnow
from lorapipe.db.jobs import Adapter, Attempt, Checkpoint, FileObject, Job, JobEvent
from lorapipe.errors import NotFoundError

T = TypeVar("T")
MAX_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first; ``has_more`` says whether older items follow."""

    items: list[T]
    has_more: bool


def _page(session: Session, query: Select[T], limit: int) -> Page[T]:
    limit = max(1, min(limit, MAX_PAGE))
    rows = list(session.scalars(query.limit(limit + 1)))
    return Page(items=rows[:limit], has_more=len(rows) > limit)


def get_file(session: Session, owner_id: str, file_id: str) -> FileObject:
    row = session.get(FileObject, file_id)
    if row is None or row.owner_id != owner_id or row.deleted_at is not None:
        raise NotFoundError(f"no file with id {file_id!r}", param="file_id")
    return row


def list_files(session: Session, owner_id: str, after: str | None, limit: int) -> Page[FileObject]:
    query = select(FileObject).where(FileObject.owner_id == owner_id, FileObject.deleted_at.is_(None))
    if after:
        anchor = get_file(session, owner_id, after)
        query = query.where(_older(FileObject.created_at, FileObject.id, anchor.created_at, anchor.id))
    return _page(session, query.order_by(FileObject.created_at.desc(), FileObject.id.desc()), limit)


def without_estimate(query: Select[T]) -> Select[T]:
    """``query`` with the job's frozen estimate (tens of KB of JSON) left unread; reading it then
    raises instead of loading it behind the caller's back."""
    return query.options(defer(Job.estimate, raiseload=True))


# The API's most frequent query, built once: building a statement costs more than running it.
_OWNED_JOB = select(Job).where(Job.id == bindparam("job_id"), Job.owner_id == bindparam("owner_id"))
_OWNED_JOB_QUERIES = {
    (for_update, estimate): (q.with_for_update() if for_update else q)
    for for_update in (False, True)
    for estimate in (False, True)
    for q in [_OWNED_JOB if estimate else without_estimate(_OWNED_JOB)]
}


def _owned_job_row(estimate: bool) -> Select[Any]:
    columns = [
        # Named as the ORM's attributes, so a row reads like a Job (``metadata`` is ``meta`` there).
        column.label("meta") if column.key == "metadata" else column
        for column in Job.__table__.c
        if estimate or column.key != "estimate"
    ]
    return select(auth_generation_column(), *columns).where(
        Job.id == bindparam("job_id"), Job.owner_id == bindparam("owner_id")
    )


OWNED_JOB_ROWS = {estimate: _owned_job_row(estimate) for estimate in (False, True)}
"""The owned-job read without the ORM, the revocation generation first (``auth_generation``), the
job's columns after it under their attribute names; the estimate's column only under ``True``. Bind
``job_id`` and ``owner_id``. No row: no such job of that owner. What the API's hottest route runs (a
client polling its job), in one statement: see :meth:`lorapipe.api.deps.Call.row`."""


def get_job(
    session: Session, owner_id: str, job_id: str, *, for_update: bool = False, estimate: bool = True
) -> Job:
    """The caller's job ``job_id``; a job of another user is reported exactly like a missing one.
    ``estimate=False``: its estimate is not read (see :func:`without_estimate`)."""
    query = _OWNED_JOB_QUERIES[for_update, estimate]
    job = session.scalar(query, {"job_id": job_id, "owner_id": owner_id})
    if job is None:
        raise NotFoundError(f"no fine-tuning job with id {job_id!r}", param="fine_tuning_job_id")
    return job


def _older(
    created: InstrumentedAttribute[dt.datetime], ident: InstrumentedAttribute[str], at: dt.datetime, id_: str
) -> ColumnElement[bool]:
    # Keyset pagination on (created_at, id): stable while new rows arrive.
    return or_(created < at, and_(created == at, ident < id_))


def list_jobs(
    session: Session, owner_id: str, after: str | None, limit: int, *, estimate: bool = True
) -> Page[Job]:
    """The owner's fine-tuning jobs (OpenAI's list; evaluations are listed with their adapter)."""
    query = select(Job).where(Job.owner_id == owner_id, Job.kind == "fine_tune")
    if not estimate:
        query = without_estimate(query)
    if after:
        anchor = get_job(session, owner_id, after)
        query = query.where(_older(Job.created_at, Job.id, anchor.created_at, anchor.id))
    return _page(session, query.order_by(Job.created_at.desc(), Job.id.desc()), limit)


LAST_SEQ = 2**31 - 1
"""The largest event ``seq`` (a 32-bit integer column)."""
_EVENTS_BEFORE = (
    select(JobEvent)
    .where(JobEvent.job_id == bindparam("job_id"), JobEvent.seq <= bindparam("through"))
    .order_by(JobEvent.seq.desc())
    .limit(bindparam("limit"))
)


def list_events(session: Session, job: Job, after: str | None, limit: int) -> Page[JobEvent]:
    """Events newest first (OpenAI's order); ``after`` is an event id, the page holds older ones."""
    through = LAST_SEQ  # the first page: every event
    if after:
        anchor = session.scalar(select(JobEvent.seq).where(JobEvent.job_id == job.id, JobEvent.id == after))
        if anchor is None:
            raise NotFoundError(f"no event with id {after!r} in job {job.id}", param="after")
        through = anchor - 1
    limit = max(1, min(limit, MAX_PAGE))
    params = {"job_id": job.id, "through": through, "limit": limit + 1}
    rows = list(session.scalars(_EVENTS_BEFORE, params))
    return Page(items=rows[:limit], has_more=len(rows) > limit)


def events_since(session: Session, job_id: str, seq: int, limit: int = 500) -> list[JobEvent]:
    """Events after ``seq``, oldest first (for streams and watchers)."""
    query = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.seq > seq).order_by(JobEvent.seq)
    return list(session.scalars(query.limit(limit)))


def list_checkpoints(session: Session, job: Job, after: str | None, limit: int) -> Page[Checkpoint]:
    query = select(Checkpoint).where(Checkpoint.job_id == job.id)
    if after:
        anchor = session.scalar(
            select(Checkpoint.step).where(Checkpoint.job_id == job.id, Checkpoint.id == after)
        )
        if anchor is None:
            raise NotFoundError(f"no checkpoint with id {after!r} in job {job.id}", param="after")
        query = query.where(Checkpoint.step < anchor)
    return _page(session, query.order_by(Checkpoint.step.desc()), limit)


def latest_checkpoint(session: Session, job_id: str) -> Checkpoint | None:
    query = select(Checkpoint).where(Checkpoint.job_id == job_id).order_by(Checkpoint.step.desc())
    return session.scalars(query.limit(1)).first()


def list_adapters(session: Session, owner_id: str) -> list[Adapter]:
    query = select(Adapter).where(Adapter.owner_id == owner_id, Adapter.deleted_at.is_(None))
    return list(session.scalars(query.order_by(Adapter.created_at.desc())))


def claim_queued_jobs(session: Session, limit: int, now: dt.datetime | None = None) -> list[Job]:
    """Lock up to ``limit`` queued jobs that are due, oldest first.

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so concurrent reconcilers take
    disjoint sets without waiting; the caller must move them out of ``queued`` in the same
    transaction. SQLite has one writer at a time, and :func:`transition`'s compare-and-set rejects
    the loser of any race.
    """
    now = now or utcnow()
    query = (
        select(Job)
        .where(Job.status == JobStatus.QUEUED.value, or_(Job.not_before.is_(None), Job.not_before <= now))
        .order_by(Job.created_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def lock_job(session: Session, job_id: str) -> Job | None:
    """The job row, locked for the rest of the transaction (PostgreSQL; a no-op on SQLite)."""
    return session.scalar(select(Job).where(Job.id == job_id).with_for_update())


def open_attempts(session: Session) -> list[Attempt]:
    """Attempts whose process may still be alive (not exited, not lost)."""
    query = select(Attempt).where(Attempt.status.in_(("starting", "running"))).order_by(Attempt.started_at)
    return list(session.scalars(query))


def current_attempt(session: Session, job_id: str) -> Attempt | None:
    query = select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number.desc())
    return session.scalars(query.limit(1)).first()


def attempt_count(session: Session, job_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(Attempt).where(Attempt.job_id == job_id)) or 0)


def attempts_run(session: Session, job_id: str) -> int:
    """Attempts that reached a backend (have a handle): what counts against ``max_attempts``. A submit
    the backend refused for capacity (rate limited, full) never ran, and a storm of them must not use up
    the retries a real failure needs."""
    handles = session.scalars(select(Attempt.handle).where(Attempt.job_id == job_id))
    return sum(1 for handle in handles if handle)


def active_jobs(session: Session, statuses: frozenset[JobStatus] = ACTIVE) -> list[Job]:
    query = select(Job).where(Job.status.in_([s.value for s in statuses])).order_by(Job.created_at)
    return list(session.scalars(query))
