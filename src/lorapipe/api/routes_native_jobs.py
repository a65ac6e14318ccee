"""Native job routes: list with filters and totals, detail with live progress, metric points for a
loss chart, cancel, and the job's events as a resumable server-sent event stream.

Jobs are created through ``POST /v1/fine_tuning/jobs`` (one create path, one validation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller, Hot, State
from lorapipe.api.params import INT4_MAX, Include, ResourceId
from lorapipe.api.routes_native_deps import Limit, Offset, StreamCaller
from lorapipe.api.sse import StreamHolder, job_event_stream, resume_after
from lorapipe.contract.job_states import JobStatus
from lorapipe.errors import AuthError
from lorapipe.services import job_events, job_views
from lorapipe.services.accounts import authenticate
from lorapipe.services.job_events import MetricsPage
from lorapipe.services.job_views import NativeJobPublic
from lorapipe.services.limits import stream_slots
from lorapipe.services.public import Page

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get(
    "",
    response_model=Page[NativeJobPublic],
    summary="Your jobs, newest first, with the total over all of them",
)
async def list_jobs(
    call: Hot, status: JobStatus | None = None, limit: Limit = 20, offset: Offset = 0, include: Include = None
) -> Response:
    estimate = include == "estimate"
    return await call.json(
        lambda db, user: job_views.list_jobs_with_progress(
            db, user.id, status=status, limit=limit, offset=offset, estimate=estimate
        ),
        read=True,
    )


@router.get("/{job_id}", response_model=NativeJobPublic, summary="A job with its latest progress")
async def get_job(call: Hot, job_id: ResourceId, include: Include = None) -> Response:
    estimate = include == "estimate"
    return await call.json(
        lambda db, user: job_views.get_job_with_progress(db, user.id, job_id, estimate=estimate), read=True
    )


@router.get(
    "/{job_id}/metrics",
    response_model=MetricsPage,
    summary="A job's metric points, oldest first (for charts)",
)
async def list_metrics(
    call: Hot,
    job_id: ResourceId,
    after_step: Annotated[int, Query(ge=-1, le=INT4_MAX, description="Only points after this step.")] = -1,
) -> Response:
    return await call.json(
        lambda db, user: job_events.list_metrics(db, user.id, job_id, after_step=after_step)
    )


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500, description="Why, kept in the job's event log.")


@router.post("/{job_id}/cancel", summary="Cancel a job (its process is stopped)")
def cancel_job(
    db: DB, user: Caller, job_id: ResourceId, body: CancelRequest | None = None
) -> NativeJobPublic:
    reason = body.reason if body is not None else None
    return job_views.with_progress(db, job_views.cancel_job(db, user.id, job_id, reason))


@router.get(
    "/{job_id}/stream",
    summary="The job's events as server-sent events; resume with Last-Event-ID; ends when the job ends",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "A server-sent event stream, not JSON: one `fine_tuning.job.event` object "
            "per `data:` line (with `event`, the engine's event type), then an `end` event.",
        }
    },
)
def stream_events(
    request: Request,
    state: State,
    user: StreamCaller,
    job_id: ResourceId,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=INT4_MAX, description="Resume after this seq (no header).")
    ] = None,
) -> StreamingResponse:
    with state.sessions() as session:
        job_events.check_job(session, user.id, job_id)
    start = resume_after(last_event_id, after)
    holder = StreamHolder(stream_slots(state.settings), user.id, authorized=_still_authorized(state, request))
    stream = job_event_stream(
        state.sessions, job_id, start, is_disconnected=request.is_disconnected, holder=holder
    )
    holder.take(stream)  # a 429 (Retry-After) before any byte is sent when the user holds every slot
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _still_authorized(state: State, request: Request) -> Callable[[], bool]:
    header = request.headers.get("authorization", "")

    def check() -> bool:
        with state.sessions() as session:
            try:
                authenticate(session, header, state.single_user_id)
            except AuthError:
                return False
        return True

    return check
