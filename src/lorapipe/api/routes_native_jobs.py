"""Native job routes: list with filters and totals, detail with live progress, metric points for a
loss chart, cancel, and the job's events as a resumable server-sent event stream.

Jobs are created through ``POST /v1/fine_tuning/jobs`` (one create path, one validation).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.api import shapes
from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.routes_native_deps import Limit, Offset, StreamCaller, offset_page
from lorapipe.api.sse import job_event_stream, resume_after
from lorapipe.contract.job_states import JobStatus
from lorapipe.db.jobs import Job, MetricPoint
from lorapipe.jobs import store
from lorapipe.services import jobs as job_service

router = APIRouter(prefix="/jobs", tags=["jobs"])
MAX_POINTS = 5000
"""Metric points one request returns (a chart needs no more; ``after_step`` pages on)."""
PROGRESS_KEYS = ("step", "total_steps", "epoch", "loss", "eval_loss", "eta_s", "elapsed_s", "tokens_per_s")


def job_progress(session: Session, job_id: str) -> dict[str, Any]:
    """The latest figures: step, total steps, train loss, eval loss, ETA (seconds), elapsed."""
    recent = session.scalars(
        select(MetricPoint).where(MetricPoint.job_id == job_id).order_by(MetricPoint.id.desc()).limit(50)
    ).all()
    progress: dict[str, Any] = dict.fromkeys(PROGRESS_KEYS)
    # Oldest to newest, so the newest value of each figure wins.
    for point in reversed(recent):
        values = {"step": point.step, **point.values}
        progress.update({k: values[k] for k in PROGRESS_KEYS if values.get(k) is not None})
    return progress


def native_job(session: Session, job: Job) -> dict[str, Any]:
    return shapes.job_object(job) | {"progress": job_progress(session, job.id)}


@router.get("", summary="Your jobs, newest first, with the total over all of them")
def list_jobs(
    db: DB,
    user: Caller,
    status: JobStatus | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = select(Job).where(Job.owner_id == user.id)
    if status is not None:
        query = query.where(Job.status == status.value)
    query = query.order_by(Job.created_at.desc(), Job.id.desc())
    return offset_page(db, query, limit=limit, offset=offset, to_dict=lambda job: native_job(db, job))


@router.get("/{job_id}", summary="A job with its latest progress")
def get_job(db: DB, user: Caller, job_id: str) -> dict[str, Any]:
    return native_job(db, store.get_job(db, user.id, job_id))


@router.get("/{job_id}/metrics", summary="A job's metric points, oldest first (for charts)")
def list_metrics(
    db: DB,
    user: Caller,
    job_id: str,
    after_step: Annotated[int, Query(ge=-1, description="Only points after this step.")] = -1,
) -> dict[str, Any]:
    job = store.get_job(db, user.id, job_id)
    points = db.scalars(
        select(MetricPoint)
        .where(MetricPoint.job_id == job.id, MetricPoint.step > after_step)
        .order_by(MetricPoint.step, MetricPoint.id)
        .limit(MAX_POINTS + 1)
    ).all()
    data = [{"step": p.step, **p.values} for p in points[:MAX_POINTS]]
    return {"object": "list", "data": data, "has_more": len(points) > MAX_POINTS}


@router.post("/{job_id}/cancel", summary="Cancel a job (its process is stopped)")
def cancel_job(db: DB, user: Caller, job_id: str) -> dict[str, Any]:
    return native_job(db, job_service.cancel_job(db, owner_id=user.id, job_id=job_id))


@router.get(
    "/{job_id}/stream",
    summary="The job's events as server-sent events; resume with Last-Event-ID; ends when the job ends",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def stream_events(
    request: Request,
    state: State,
    user: StreamCaller,
    job_id: str,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0, description="Resume after this seq (no header).")] = None,
) -> StreamingResponse:
    with state.sessions() as session:
        store.get_job(session, user.id, job_id)
    start = resume_after(last_event_id, after)
    return StreamingResponse(
        job_event_stream(state.sessions, job_id, start, is_disconnected=request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
