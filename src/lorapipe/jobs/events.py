"""Appending to a job's event log: a per-job ``seq`` handed out atomically, and idempotent ingestion
of engine events keyed by ``(attempt_id, engine_seq)``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Job, JobEvent


def next_event_seq(session: Session, job_id: str) -> int:
    """Reserve the job's next event number. The row-level UPDATE serialises concurrent writers
    (a row lock on PostgreSQL, the write lock on SQLite), so two events never share a seq."""
    seq = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(last_event_seq=Job.last_event_seq + 1)
        .returning(Job.last_event_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(seq)


def append_event(
    session: Session,
    job_id: str,
    *,
    type: str,
    message: str,
    level: str = "info",
    data: dict[str, Any] | None = None,
    attempt_id: str | None = None,
    engine_seq: int | None = None,
) -> JobEvent:
    """Append one event; the caller commits."""
    event = JobEvent(
        id=new_id("event"),
        job_id=job_id,
        seq=next_event_seq(session, job_id),
        attempt_id=attempt_id,
        engine_seq=engine_seq,
        level=level,
        type=type,
        message=message,
        data=data,
    )
    session.add(event)
    session.flush()
    return event


def engine_seqs_seen(session: Session, attempt_id: str, seqs: list[int]) -> set[int]:
    """Which of the engine events ``seqs`` of ``attempt_id`` were already ingested (one range query, so
    a whole stored log read again at the end of a run costs one statement, not one per event)."""
    if not seqs:
        return set()
    found = session.scalars(
        select(JobEvent.engine_seq).where(
            JobEvent.attempt_id == attempt_id,
            JobEvent.engine_seq >= min(seqs),
            JobEvent.engine_seq <= max(seqs),
        )
    )
    return {int(seq) for seq in found if seq is not None}
