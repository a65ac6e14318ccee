"""OpenAI-compatible routes: /v1/files, /v1/fine_tuning/jobs (+cancel, events, checkpoints), /v1/models.

Thin: each handler authenticates, calls one service or store function, and shapes the answer.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, File, Form, Header, Query, UploadFile

from lorapipe.api import schemas_v1, shapes
from lorapipe.api.deps import DB, Caller, State
from lorapipe.errors import NotFoundError, UserError
from lorapipe.jobs import store
from lorapipe.services import jobs as job_service

router = APIRouter(prefix="/v1", responses=schemas_v1.ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post(
    "/files",
    response_model=schemas_v1.FileOut,
    summary="Upload a training file (purpose fine-tune); the upload is validated",
)
def upload_file(
    state: State, db: DB, user: Caller, file: Annotated[UploadFile, File()], purpose: Annotated[str, Form()]
) -> dict[str, Any]:
    if purpose != "fine-tune":
        raise UserError(f"purpose {purpose!r} is not supported; use 'fine-tune'", param="purpose")
    row = job_service.upload_file(
        db,
        state.objects,
        state.settings,
        owner_id=user.id,
        filename=file.filename or "upload.jsonl",
        stream=file.file,
    )
    return shapes.file_object(row)


@router.get("/files", response_model=schemas_v1.FileList, summary="List your files, newest first")
def list_files(db: DB, user: Caller, after: str | None = None, limit: Limit = 20) -> dict[str, Any]:
    page = store.list_files(db, user.id, after, limit)
    return shapes.list_object(page.items, shapes.file_object, page.has_more)


@router.get("/files/{file_id}", response_model=schemas_v1.FileOut, summary="Retrieve a file")
def get_file(db: DB, user: Caller, file_id: str) -> dict[str, Any]:
    return shapes.file_object(store.get_file(db, user.id, file_id))


@router.post("/fine_tuning/jobs", response_model=schemas_v1.JobOut, summary="Create a fine-tuning job")
def create_job(
    state: State,
    db: DB,
    user: Caller,
    body: job_service.CreateJobRequest,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    job = job_service.create_job(
        db, state.objects, state.settings, owner_id=user.id, request=body, idempotency_key=idempotency_key
    )
    return shapes.job_object(job)


@router.get(
    "/fine_tuning/jobs",
    response_model=schemas_v1.JobList,
    summary="List your fine-tuning jobs, newest first (cursor: after)",
)
def list_jobs(db: DB, user: Caller, after: str | None = None, limit: Limit = 20) -> dict[str, Any]:
    page = store.list_jobs(db, user.id, after, limit)
    return shapes.list_object(page.items, shapes.job_object, page.has_more)


@router.get(
    "/fine_tuning/jobs/{job_id}", response_model=schemas_v1.JobOut, summary="Retrieve a fine-tuning job"
)
def get_job(db: DB, user: Caller, job_id: str) -> dict[str, Any]:
    return shapes.job_object(store.get_job(db, user.id, job_id))


@router.post(
    "/fine_tuning/jobs/{job_id}/cancel",
    response_model=schemas_v1.JobOut,
    summary="Cancel a job (its process is stopped)",
)
def cancel_job(db: DB, user: Caller, job_id: str) -> dict[str, Any]:
    return shapes.job_object(job_service.cancel_job(db, owner_id=user.id, job_id=job_id))


@router.get(
    "/fine_tuning/jobs/{job_id}/events",
    response_model=schemas_v1.EventList,
    summary="A job's events, newest first (cursor: after)",
)
def list_events(
    db: DB, user: Caller, job_id: str, after: str | None = None, limit: Limit = 20
) -> dict[str, Any]:
    job = store.get_job(db, user.id, job_id)
    page = store.list_events(db, job, after, limit)
    return shapes.list_object(page.items, shapes.event_object, page.has_more)


@router.get(
    "/fine_tuning/jobs/{job_id}/checkpoints",
    response_model=schemas_v1.CheckpointList,
    summary="A job's checkpoints, newest first",
)
def list_checkpoints(
    db: DB, user: Caller, job_id: str, after: str | None = None, limit: Limit = 10
) -> dict[str, Any]:
    job = store.get_job(db, user.id, job_id)
    page = store.list_checkpoints(db, job, after, limit)
    return shapes.list_object(page.items, lambda c: shapes.checkpoint_object(c, job), page.has_more)


@functools.cache
def _catalogue_ids() -> tuple[str, ...]:
    text = resources.files("lorapipe.models").joinpath("catalog.yaml").read_text("utf-8")
    doc = yaml.safe_load(text) or {}
    entries = doc.get("models", []) if isinstance(doc, dict) else []
    return tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e)


@router.get(
    "/models",
    response_model=schemas_v1.ModelList,
    summary="Base models in the catalogue and your fine-tuned models",
)
def list_models(db: DB, user: Caller) -> dict[str, Any]:
    data = [shapes.model_object(m, None, "lorapipe") for m in _catalogue_ids()]
    data += [shapes.adapter_model(a) for a in store.list_adapters(db, user.id)]
    return {"object": "list", "data": data}


@router.get("/models/{model_id:path}", response_model=schemas_v1.ModelOut, summary="Retrieve a model")
def get_model(db: DB, user: Caller, model_id: str) -> dict[str, Any]:
    if model_id in _catalogue_ids():
        return shapes.model_object(model_id, None, "lorapipe")
    for adapter in store.list_adapters(db, user.id):
        if adapter.name == model_id:
            return shapes.adapter_model(adapter)
    raise NotFoundError(f"no model {model_id!r}", param="model")
