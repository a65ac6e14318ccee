"""What a job left behind while it ran: its events (OpenAI's ``fine_tuning.job.event``, plus the
resumable feed the event stream polls), its checkpoints, and its metric points for a loss chart."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.contract.job_states import JobStatus
from lorapipe.db.jobs import Checkpoint, Job, JobEvent, MetricPoint
from lorapipe.jobs import store
from lorapipe.services.job_views import Figure
from lorapipe.services.public import CursorPage, ts

MAX_POINTS = 5000
"""Metric points one request returns (a chart needs no more; ``after_step`` pages on)."""
EventLevel = Literal["info", "warn", "error"]
FEED_BATCH = 500
"""Events one poll of the feed reads; a longer backlog takes several polls."""


class EventPublic(BaseModel):
    """OpenAI's job event; ``seq`` (the job's own event order) is our addition."""

    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: EventLevel
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any]
    seq: int

    @classmethod
    def from_row(cls, row: JobEvent) -> EventPublic:
        return cls(
            id=row.id,
            created_at=ts(row.created_at),
            level=cast(EventLevel, row.level),  # the column's check constraint
            message=row.message,
            type="metrics" if row.type == "metrics" else "message",
            data=row.data or {},
            seq=row.seq,
        )


class StreamedEvent(EventPublic):
    """An event as the server-sent stream sends it: ``event`` is the engine's own event type."""

    event: str


class EventFeed(BaseModel):
    """One poll of a job's events: its status (read first), then the events after a sequence number."""

    status: JobStatus
    events: list[StreamedEvent]


class CheckpointMetrics(BaseModel):
    step: int
    train_loss: Figure | None
    valid_loss: Figure | None
    full_valid_loss: Figure | None


class CheckpointPublic(BaseModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuning_job_id: str
    fine_tuned_model_checkpoint: str = Field(description="The model id of the adapter at this step.")
    step_number: int
    metrics: CheckpointMetrics

    @classmethod
    def from_row(cls, row: Checkpoint, job: Job) -> CheckpointPublic:
        metrics = row.metrics or {}
        model = job.fine_tuned_model or f"ft:{job.model}:{job.id}"
        return cls(
            id=row.id,
            created_at=ts(row.created_at),
            fine_tuning_job_id=job.id,
            fine_tuned_model_checkpoint=f"{model}:ckpt-step-{row.step}",
            step_number=row.step,
            metrics=CheckpointMetrics(
                step=row.step,
                train_loss=metrics.get("loss"),
                valid_loss=metrics.get("eval_loss"),
                full_valid_loss=metrics.get("eval_loss"),
            ),
        )


class MetricPointPublic(BaseModel):
    """One metric point: its step and every figure the engine reported with it."""

    model_config = ConfigDict(extra="allow")

    step: int


class MetricsPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[MetricPointPublic]
    has_more: bool


def list_events(
    session: Session, owner_id: str, job_id: str, *, after: str | None, limit: int
) -> CursorPage[EventPublic]:
    """The job's events, newest first (OpenAI's order); ``after`` is an event id."""
    job = store.get_job(session, owner_id, job_id, estimate=False)
    page = store.list_events(session, job, after, limit)
    return CursorPage[EventPublic].of([EventPublic.from_row(e) for e in page.items], has_more=page.has_more)


def list_checkpoints(
    session: Session, owner_id: str, job_id: str, *, after: str | None, limit: int
) -> CursorPage[CheckpointPublic]:
    """The job's checkpoints, newest first; ``after`` is a checkpoint id."""
    job = store.get_job(session, owner_id, job_id, estimate=False)
    page = store.list_checkpoints(session, job, after, limit)
    data = [CheckpointPublic.from_row(c, job) for c in page.items]
    return CursorPage[CheckpointPublic].of(data, has_more=page.has_more)


def list_metrics(session: Session, owner_id: str, job_id: str, *, after_step: int = -1) -> MetricsPage:
    """The job's metric points after ``after_step``, oldest first, at most :data:`MAX_POINTS`."""
    job = store.get_job(session, owner_id, job_id, estimate=False)
    points = session.scalars(
        select(MetricPoint)
        .where(MetricPoint.job_id == job.id, MetricPoint.step > after_step)
        .order_by(MetricPoint.step, MetricPoint.id)
        .limit(MAX_POINTS + 1)
    ).all()
    data = [MetricPointPublic.model_validate({"step": p.step, **p.values}) for p in points[:MAX_POINTS]]
    return MetricsPage(data=data, has_more=len(points) > MAX_POINTS)


def check_job(session: Session, owner_id: str, job_id: str) -> None:
    """:class:`~lorapipe.errors.NotFoundError` unless ``job_id`` is the owner's job."""
    store.get_job(session, owner_id, job_id, estimate=False)


def event_feed(session: Session, job_id: str, after: int) -> EventFeed:
    """The job's status, then its events after ``after`` (status first: when it reads terminal, the
    event recording that change is already committed and this read sees it). A job that vanished
    reads as ``cancelled``, so a stream over it ends."""
    status = session.scalar(select(Job.status).where(Job.id == job_id))
    rows = store.events_since(session, job_id, after, limit=FEED_BATCH)
    events = [StreamedEvent.model_validate({**dict(EventPublic.from_row(r)), "event": r.type}) for r in rows]
    return EventFeed(status=JobStatus(status or JobStatus.CANCELLED.value), events=events)
