"""In-app notifications: created once per fact (a job ended, a dataset was validated, a budget
threshold was reached), listed and marked read by their owner. Every new notification is also an
event for the owner's webhooks (same ``kind``).

Facts are found by scanning the records (finished jobs, validated datasets) rather than by hooks
in the code that changes them, so nothing is lost when the process that finished a job dies
before notifying: the next scan sees the fact without its notification. ``dedupe_key`` plus a
unique constraint make two scanners (two reconcilers) create each notification once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from lorapipe.contract.job_states import TERMINAL, JobStatus
from lorapipe.db.accounts import User
from lorapipe.db.base import utcnow
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Job
from lorapipe.db.notifications import Notification
from lorapipe.errors import NotFoundError
from lorapipe.services.webhooks import EVENT_TYPES, enqueue_deliveries

Severity = Literal["low", "medium", "high"]

#: How far back a scan looks for facts without a notification: bounds the work of each scan and
#: keeps a new deployment from notifying about old history.
SCAN_HORIZON = dt.timedelta(days=7)

_JOB_SEVERITY: dict[str, Severity] = {"succeeded": "low", "cancelled": "medium", "failed": "high"}


def insert_once(session: Session, table: Any, values: dict[str, Any], unique: list[str]) -> bool:
    """``INSERT ... ON CONFLICT (unique) DO NOTHING``; True when the row was inserted.

    Atomic on SQLite and PostgreSQL alike (no read-then-write race, no savepoint)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = next(iter(table.primary_key.columns))
    stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=unique).returning(key)
    # RETURNING, not rowcount: psycopg reports -1 rows for INSERT ... ON CONFLICT through SQLAlchemy.
    return session.execute(stmt).first() is not None


def notify(
    session: Session,
    *,
    owner_id: str,
    kind: str,
    title: str,
    body: str = "",
    severity: Severity = "low",
    job_id: str | None = None,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Notification | None:
    """Create a notification and queue it for the owner's webhooks; the caller commits.

    Returns None, doing nothing, when ``dedupe_key`` was used for this owner before."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown notification kind {kind!r}; add it to EVENT_TYPES")
    values = {
        "id": new_id("notification"),
        "owner_id": owner_id,
        "job_id": job_id,
        "kind": kind,
        "severity": severity,
        "title": title[:255],
        "body": body,
        "dedupe_key": dedupe_key,
        "data": data,
        "created_at": utcnow(),
    }
    if not insert_once(session, Notification.__table__, values, ["owner_id", "dedupe_key"]):
        return None
    row = session.get(Notification, values["id"])
    assert row is not None
    enqueue_deliveries(session, owner_id, kind, event_payload(row))
    return row


def event_payload(row: Notification) -> dict[str, Any]:
    """The webhook body: ``{type, timestamp, data}`` as Standard Webhooks recommends."""
    return {
        "type": row.kind,
        "timestamp": row.created_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "notification_id": row.id,
            "title": row.title,
            "body": row.body,
            "severity": row.severity,
            "job_id": row.job_id,
            **(row.data or {}),
        },
    }


# --- facts found by scanning -----------------------------------------------------------------------


def _no_notification(
    owner: ColumnElement[str] | InstrumentedAttribute[str], key: ColumnElement[str]
) -> ColumnElement[bool]:
    return ~exists().where(Notification.owner_id == owner, Notification.dedupe_key == key)


def notify_finished_jobs(session: Session, *, now: dt.datetime | None = None, limit: int = 200) -> int:
    """One notification per job that reached succeeded, failed or cancelled; returns how many."""
    since = (now or utcnow()) - SCAN_HORIZON
    key = literal("job:") + Job.id
    jobs = session.scalars(
        select(Job)
        .where(
            Job.status.in_([s.value for s in TERMINAL]),
            Job.finished_at >= since,
            _no_notification(Job.owner_id, key),
        )
        .order_by(Job.finished_at)
        .limit(limit)
    ).all()
    made = 0
    for job in jobs:
        status = JobStatus(job.status)
        reason = job.status_reason or ""
        error = job.error or {}
        body = str(error.get("message") or reason) if status is JobStatus.FAILED else reason
        made += (
            notify(
                session,
                owner_id=job.owner_id,
                kind=f"job.{status.value}",
                title=f"Fine-tuning job {job.id} {status.value}",
                body=body,
                severity=_JOB_SEVERITY[status.value],
                job_id=job.id,
                data={
                    "job_id": job.id,
                    "status": status.value,
                    "reason": reason,
                    "error": job.error,
                    "fine_tuned_model": job.fine_tuned_model,
                },
                dedupe_key=f"job:{job.id}",
            )
            is not None
        )
    return made


def notify_dataset_outcomes(session: Session, *, now: dt.datetime | None = None, limit: int = 200) -> int:
    """One notification per dataset that became ready or failed validation; returns how many."""
    since = (now or utcnow()) - SCAN_HORIZON
    key = literal("dataset:") + Dataset.id
    rows = session.scalars(
        select(Dataset)
        # Datasets are not tied to users by a foreign key; notify only owners that are users.
        .join(User, User.id == Dataset.owner_id)
        .where(
            Dataset.status.in_([DatasetStatus.READY.value, DatasetStatus.ERROR.value]),
            Dataset.deleted_at.is_(None),
            Dataset.updated_at >= since,
            _no_notification(Dataset.owner_id, key),
        )
        .order_by(Dataset.updated_at)
        .limit(limit)
    ).all()
    made = 0
    for ds in rows:
        ready = ds.status == DatasetStatus.READY.value
        made += (
            notify(
                session,
                owner_id=ds.owner_id,
                kind="dataset.ready" if ready else "dataset.error",
                title=f"Dataset {ds.name!r} {'is ready' if ready else 'failed validation'}",
                body="" if ready else (ds.error_message or "validation failed; see the report"),
                severity="low" if ready else "high",
                data={"dataset_id": ds.id, "status": ds.status, "error": ds.error_message},
                dedupe_key=f"dataset:{ds.id}",
            )
            is not None
        )
    return made


# --- the owner's view ------------------------------------------------------------------------------


def get_notification(session: Session, owner_id: str, notification_id: str) -> Notification:
    """The caller's notification; another user's is reported exactly like a missing one."""
    row = session.get(Notification, notification_id)
    if row is None or row.owner_id != owner_id:
        raise NotFoundError(f"no notification with id {notification_id!r}", param="notification_id")
    return row


def notifications_query(owner_id: str, *, unread_only: bool = False) -> Select[Notification]:
    """The owner's notifications, newest first (optionally only the unread ones)."""
    query = select(Notification).where(Notification.owner_id == owner_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.created_at.desc(), Notification.id.desc())


def unread_count(session: Session, owner_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.owner_id == owner_id, Notification.read_at.is_(None))
        )
        or 0
    )


def mark_read(session: Session, owner_id: str, notification_id: str) -> Notification:
    """Mark one notification read (idempotent: the first read time is kept); the caller commits."""
    row = get_notification(session, owner_id, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
    return row


def mark_all_read(session: Session, owner_id: str) -> int:
    """Mark every unread notification of the owner read; returns how many changed."""
    result = session.execute(
        update(Notification)
        .where(Notification.owner_id == owner_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
