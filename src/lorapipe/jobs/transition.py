"""``transition(session, job, to, reason)``: the only code that writes a job's status.

It checks the allowed-transition table, moves the row with a compare-and-set (so two writers racing
from the same state cannot both win, on SQLite or PostgreSQL), and appends a ``status`` event that
records the reason in the same database transaction. Reasons and errors are stored without server
paths or object keys (:mod:`lorapipe.jobs.path_scrub`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from lorapipe.contract.job_states import TERMINAL, JobStatus
from lorapipe.db.base import utcnow
from lorapipe.db.jobs import Job, JobEvent
from lorapipe.errors import InvalidTransitionError
from lorapipe.jobs.events import append_event
from lorapipe.jobs.path_scrub import scrub_paths
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.states import check_transition


def transition(
    session: Session,
    job: Job,
    to: JobStatus,
    reason: str,
    *,
    error: JobError | None = None,
    data: dict[str, Any] | None = None,
) -> JobEvent:
    """Move ``job`` to ``to`` because of ``reason``; return the ``status`` event appended.

    ``error`` is stored on the job when it moves to ``failed`` (required then: a failure always says
    why). Raises :class:`InvalidTransitionError` when the edge is not allowed or the row changed
    under us (another writer moved it first). The caller commits.
    """
    src, dst = check_transition(job.status, to)
    if dst is JobStatus.FAILED and error is None:
        raise ValueError("a transition to failed needs an error {code, message, param, kind}")
    # The owner reads these (API, events, webhooks, dashboard): what failed, never where on the server.
    reason = scrub_paths(reason)
    if error is not None:
        error = error.model_copy(update={"message": scrub_paths(error.message)})
    if data and isinstance(data.get("error"), dict) and isinstance(data["error"].get("message"), str):
        data = {**data, "error": {**data["error"], "message": scrub_paths(data["error"]["message"])}}
    now = utcnow()
    values: dict[str, Any] = {"status": dst.value, "status_reason": reason}
    if dst in TERMINAL:
        values["finished_at"] = now
    if dst is JobStatus.RUNNING and job.started_at is None:
        values["started_at"] = now
    if dst is JobStatus.CANCELLING:
        values["cancel_requested_at"] = now
    if error is not None:
        values["error"] = error.as_dict()
    result = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == src.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(job)
        raise InvalidTransitionError(
            f"job {job.id} moved to {job.status} before it could go from {src.value} to {dst.value}",
            param="status",
        )
    for key, value in values.items():
        # Mirror what the UPDATE wrote without marking the object dirty (no second UPDATE).
        set_committed_value(job, key, value)
    payload: dict[str, Any] = {"from": src.value, "to": dst.value, **(data or {})}
    if error is not None:
        payload["error"] = error.as_dict()
    level = "error" if dst is JobStatus.FAILED else "info"
    return append_event(
        session, job.id, type="status", message=f"{dst.value}: {reason}", level=level, data=payload
    )
