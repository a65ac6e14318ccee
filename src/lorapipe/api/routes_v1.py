"""OpenAI-compatible routes: /v1/files, /v1/fine_tuning/jobs (+cancel, events, checkpoints), /v1/models.

Thin: each handler authenticates and calls one service function; the answer is the service's object
checked against OpenAI's shape in :mod:`lorapipe.api.schemas_v1`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel

from lorapipe.api import schemas_v1
from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.params import Cursor, ResourceId
from lorapipe.api.upload_body import MultipartUpload, body_chunks
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
def list_files(db: DB, user: Caller, after: Cursor = None, limit: Limit = 20) -> dict[str, Any]:
    return _openai(file_views.list_files(db, user.id, after=after, limit=limit))


@router.get("/files/{file_id}", response_model=schemas_v1.FileOut, summary="Retrieve a file")
def get_file(db: DB, user: Caller, file_id: ResourceId) -> dict[str, Any]:
    return _openai(file_views.get_file(db, user.id, file_id))


@router.delete(
    "/files/{file_id}",
    response_model=schemas_v1.FileDeletedOut,
    summary="Delete a file: no new job may use it; its stored data goes once no running job needs it",
)
def delete_file(state: State, db: DB, user: Caller, file_id: ResourceId) -> dict[str, Any]:
    return _openai(file_views.delete_file(db, state.objects, user.id, file_id))


@router.post("/fine_tuning/jobs", response_model=schemas_v1.JobOut, summary="Create a fine-tuning job")
def create_job(
    state: State,
    db: DB,
    user: Caller,
    body: job_requests.CreateJobRequest,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    job = job_service.create_job(
        db, state.objects, state.settings, owner_id=user.id, request=body, idempotency_key=idempotency_key
    )
    return _openai(JobPublic.from_row(job))


@router.get(
    "/fine_tuning/jobs",
    response_model=schemas_v1.JobList,
    summary="List your fine-tuning jobs, newest first (cursor: after)",
)
def list_jobs(db: DB, user: Caller, after: Cursor = None, limit: Limit = 20) -> dict[str, Any]:
    return _openai(job_views.list_jobs(db, user.id, after=after, limit=limit))


@router.get(
    "/fine_tuning/jobs/{job_id}", response_model=schemas_v1.JobOut, summary="Retrieve a fine-tuning job"
)
def get_job(db: DB, user: Caller, job_id: ResourceId) -> dict[str, Any]:
    return _openai(job_views.get_job(db, user.id, job_id))


@router.post(
    "/fine_tuning/jobs/{job_id}/cancel",
    response_model=schemas_v1.JobOut,
    summary="Cancel a job (its process is stopped)",
)
def cancel_job(db: DB, user: Caller, job_id: ResourceId) -> dict[str, Any]:
    return _openai(job_views.cancel_job(db, user.id, job_id))


@router.get(
    "/fine_tuning/jobs/{job_id}/events",
    response_model=schemas_v1.EventList,
    summary="A job's events, newest first (cursor: after)",
)
def list_events(
    db: DB, user: Caller, job_id: ResourceId, after: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    return _openai(job_events.list_events(db, user.id, job_id, after=after, limit=limit))


@router.get(
    "/fine_tuning/jobs/{job_id}/checkpoints",
    response_model=schemas_v1.CheckpointList,
    summary="A job's checkpoints, newest first",
)
def list_checkpoints(
    db: DB, user: Caller, job_id: ResourceId, after: Cursor = None, limit: Limit = 10
) -> dict[str, Any]:
    return _openai(job_events.list_checkpoints(db, user.id, job_id, after=after, limit=limit))


@router.get(
    "/models",
    response_model=schemas_v1.ModelList,
    summary="Base models in the catalogue and your fine-tuned models",
)
def list_models(db: DB, user: Caller) -> dict[str, Any]:
    return _openai(catalog.list_openai_models(db, user.id))


@router.get("/models/{model_id:path}", response_model=schemas_v1.ModelOut, summary="Retrieve a model")
def get_model(db: DB, user: Caller, model_id: ResourceId) -> dict[str, Any]:
    return _openai(catalog.get_openai_model(db, user.id, model_id))
