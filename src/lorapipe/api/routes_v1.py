"""OpenAI-compatible routes: /v1/files, /v1/fine_tuning/jobs (+cancel, events, checkpoints, estimate),
/v1/models.

Thin: each handler calls one service function. All but the upload are :class:`~lorapipe.api.deps.Call`
routes: authentication, the service call and the JSON encoding in one worker thread; the answer is the
service's object (its shape is OpenAI's, checked against :mod:`lorapipe.api.schemas_v1` by the tests,
which are also the OpenAPI document's response schemas).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from lorapipe.api import schemas_v1
from lorapipe.api.deps import DB, Caller, Hot, State
from lorapipe.api.params import Cursor, Include, ResourceId
from lorapipe.api.upload_body import MultipartUpload, body_chunks
from lorapipe.db.accounts import User
from lorapipe.errors import UserError
from lorapipe.services import catalog, file_uploads, file_views, job_events, job_requests, job_views
from lorapipe.services import jobs as job_service
from lorapipe.services.file_views import FilePublic
from lorapipe.services.job_views import JobPublic

router = APIRouter(prefix="/v1", responses=schemas_v1.ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=100)]
_FORM = {
    "type": "object",
    "required": ["file", "purpose"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The training file (JSONL or JSON)."},
        "purpose": {"type": "string", "enum": ["fine-tune"]},
    },
}


def _openai(obj: BaseModel) -> dict[str, Any]:
    """``obj`` as JSON values: the OpenAI response model then keeps the fields it does not declare
    (our additions), which validating the object itself would drop."""
    return obj.model_dump(mode="json")


def _check_purpose(fields: dict[str, str]) -> None:
    purpose = fields.get("purpose")
    if purpose is None:
        raise UserError("the form has no 'purpose' field; send purpose=fine-tune", param="purpose")
    if purpose != "fine-tune":
        raise UserError(f"purpose {purpose!r} is not supported; use 'fine-tune'", param="purpose")


@router.post(
    "/files",
    response_model=schemas_v1.FileOut,
    summary="Upload a training file (purpose fine-tune); the upload is validated",
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM}}}},
)
def upload_file(request: Request, state: State, db: DB, user: Caller) -> dict[str, Any]:
    # The multipart body is parsed here, as it arrives, straight into the store (never spooled);
    # FastAPI's File()/Form() would read all of it to a temporary file first.
    form = MultipartUpload(request.headers.get("content-type", ""), body_chunks(request))
    form.start()
    if "purpose" in form.fields:  # sent before the file (as the openai client does): check it now
        _check_purpose(form.fields)
    row = file_uploads.upload_file(
        db,
        state.objects,
        state.settings,
        owner_id=user.id,
        filename=form.filename or "upload.jsonl",
        stream=form.file_chunks(on_complete=_check_purpose),
    )
    return _openai(FilePublic.from_row(row))


@router.get("/files", response_model=schemas_v1.FileList, summary="List your files, newest first")
async def list_files(call: Hot, after: Cursor = None, limit: Limit = 20) -> Response:
    return await call.json(
        lambda db, user: file_views.list_files(db, user.id, after=after, limit=limit), read=True
    )


@router.get("/files/{file_id}", response_model=schemas_v1.FileOut, summary="Retrieve a file")
async def get_file(call: Hot, file_id: ResourceId) -> Response:
    return await call.json(lambda db, user: file_views.get_file(db, user.id, file_id), read=True)


@router.delete(
    "/files/{file_id}",
    response_model=schemas_v1.FileDeletedOut,
    summary="Delete a file: no new job may use it; its stored data goes once no running job needs it",
)
async def delete_file(call: Hot, file_id: ResourceId) -> Response:
    objects = call.state.objects
    return await call.json(lambda db, user: file_views.delete_file(db, objects, user.id, file_id))


@router.post("/fine_tuning/jobs", response_model=schemas_v1.JobOut, summary="Create a fine-tuning job")
async def create_job(
    call: Hot,
    body: job_requests.CreateJobRequest,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    state = call.state

    def create(db: Session, user: User) -> JobPublic:
        job = job_service.create_job(
            db, state.objects, state.settings, owner_id=user.id, request=body, idempotency_key=idempotency_key
        )
        return JobPublic.from_row(job, estimate=True)  # the estimate the caller accepted, once

    return await call.json(create)


@router.get(
    "/fine_tuning/jobs",
    response_model=schemas_v1.JobList,
    summary="List your fine-tuning jobs, newest first (cursor: after)",
)
async def list_jobs(call: Hot, after: Cursor = None, limit: Limit = 20, include: Include = None) -> Response:
    estimate = include == "estimate"
    return await call.json(
        lambda db, user: job_views.list_jobs(db, user.id, after=after, limit=limit, estimate=estimate),
        read=True,
    )


@router.get(
    "/fine_tuning/jobs/{job_id}",
    response_model=schemas_v1.JobOut,
    summary="Retrieve a fine-tuning job (its frozen estimate with include=estimate)",
)
async def get_job(call: Hot, job_id: ResourceId, include: Include = None) -> Response:
    estimate = include == "estimate"
    return await call.row(
        job_views.job_read(job_id, estimate=estimate),
        fallback=lambda db, user: job_views.get_job(db, user.id, job_id, estimate=estimate),
    )


@router.get(
    "/fine_tuning/jobs/{job_id}/estimate",
    response_model=dict[str, Any],
    summary="The estimate frozen onto a job at its creation (lorapipe's; 404 when it has none)",
)
async def get_job_estimate(call: Hot, job_id: ResourceId) -> Response:
    return await call.json(lambda db, user: job_views.get_estimate(db, user.id, job_id), read=True)


@router.post(
    "/fine_tuning/jobs/{job_id}/cancel",
    response_model=schemas_v1.JobOut,
    summary="Cancel a job (its process is stopped)",
)
async def cancel_job(call: Hot, job_id: ResourceId) -> Response:
    return await call.json(lambda db, user: job_views.cancel_job(db, user.id, job_id))


@router.get(
    "/fine_tuning/jobs/{job_id}/events",
    response_model=schemas_v1.EventList,
    summary="A job's events, newest first (cursor: after)",
)
async def list_events(call: Hot, job_id: ResourceId, after: Cursor = None, limit: Limit = 20) -> Response:
    return await call.json(
        lambda db, user: job_events.list_events(db, user.id, job_id, after=after, limit=limit), read=True
    )


@router.get(
    "/fine_tuning/jobs/{job_id}/checkpoints",
    response_model=schemas_v1.CheckpointList,
    summary="A job's checkpoints, newest first",
)
async def list_checkpoints(
    call: Hot, job_id: ResourceId, after: Cursor = None, limit: Limit = 10
) -> Response:
    return await call.json(
        lambda db, user: job_events.list_checkpoints(db, user.id, job_id, after=after, limit=limit),
        read=True,
    )


@router.get(
    "/models",
    response_model=schemas_v1.ModelList,
    summary="Base models in the catalogue and your fine-tuned models",
)
async def list_models(call: Hot) -> Response:
    return await call.json(lambda db, user: catalog.list_openai_models(db, user.id))


@router.get("/models/{model_id:path}", response_model=schemas_v1.ModelOut, summary="Retrieve a model")
async def get_model(call: Hot, model_id: ResourceId) -> Response:
    return await call.json(lambda db, user: catalog.get_openai_model(db, user.id, model_id))
