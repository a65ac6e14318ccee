"""Native dataset routes: streaming upload (size-limited), list with filters over all of the caller's
datasets, detail, validation report, canonical examples, rename, soft delete.

The upload body is the file itself (``Content-Type: application/octet-stream``, or any type), read
chunk by chunk straight into the object store: memory stays flat whatever the size, and the
upload stops with a 413 as soon as it passes ``LORAPIPE_MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.routes_native_deps import Limit, Offset, offset_page
from lorapipe.api.shapes import ts
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.errors import NotFoundError, TooLargeError
from lorapipe.services import datasets as dataset_service
from lorapipe.services.dataset_tokens import count_tokens

router = APIRouter(prefix="/datasets", tags=["datasets"])
MAX_EXAMPLES_PAGE = 50


def dataset_object(row: Dataset) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "dataset",
        "name": row.name,
        "description": row.description,
        "filename": row.filename,
        "format": row.format,
        "status": row.status,
        "bytes": row.size_bytes,
        "sha256": row.sha256,
        "statistics": row.statistics or {},
        "error_message": row.error_message,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
    }


def _body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as a blocking iterator, for a sync handler (runs in a worker thread)."""
    stream: AsyncIterator[bytes] = request.stream()

    async def next_chunk() -> bytes:
        return await anext(stream)

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


@router.post(
    "",
    status_code=201,
    summary="Upload a dataset (the request body is the file); it is validated before this answers",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {}}}}
    },
)
def upload_dataset(
    request: Request,
    state: State,
    db: DB,
    user: Caller,
    name: Annotated[
        str | None, Query(max_length=255, description="Display name (default: filename).")
    ] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    format: Annotated[str | None, Query(max_length=32, description="auto when absent.")] = None,
    description: Annotated[str, Query(max_length=2000)] = "",
) -> dict[str, Any]:
    limit = state.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLargeError(
            f"the upload is {int(declared)} bytes; the limit is {limit}", param="file", hint="split the file"
        )
    dataset = dataset_service.create_dataset_from_upload(
        db,
        state.objects,
        owner_id=user.id,
        name=name or filename or "dataset",
        stream=_body_chunks(request),
        max_bytes=limit,
        filename=filename,
        format=format,
        description=description,
        max_problems=state.settings.max_report_problems,
    )
    return dataset_object(dataset)


@router.get("", summary="Your datasets, newest first, with the total over all of them")
def list_datasets(
    db: DB,
    user: Caller,
    status: DatasetStatus | None = None,
    q: Annotated[str | None, Query(max_length=255, description="Part of the name (any case).")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = select(Dataset).where(Dataset.owner_id == user.id, Dataset.deleted_at.is_(None))
    if status is not None:
        query = query.where(Dataset.status == status.value)
    if q:
        query = query.where(func.lower(Dataset.name).contains(q.lower(), autoescape=True))
    query = query.order_by(Dataset.created_at.desc(), Dataset.id.desc())
    return offset_page(db, query, limit=limit, offset=offset, to_dict=dataset_object)


@router.get("/{dataset_id}", summary="A dataset")
def get_dataset(db: DB, user: Caller, dataset_id: str) -> dict[str, Any]:
    return dataset_object(dataset_service.get_dataset(db, user.id, dataset_id))


@router.get("/{dataset_id}/report", summary="The validation report: problems, statistics, samples")
def get_report(db: DB, user: Caller, dataset_id: str) -> dict[str, Any]:
    dataset = dataset_service.get_dataset(db, user.id, dataset_id)
    if dataset.report is None:
        raise NotFoundError(f"dataset {dataset_id} has no report yet ({dataset.status})", param="dataset_id")
    return dataset.report


@router.get("/{dataset_id}/examples", summary="Canonical examples of a ready dataset (what training reads)")
def list_examples(
    state: State,
    db: DB,
    user: Caller,
    dataset_id: str,
    limit: Annotated[int, Query(ge=1, le=MAX_EXAMPLES_PAGE)] = 5,
    offset: Offset = 0,
) -> dict[str, Any]:
    dataset = dataset_service.get_dataset(db, user.id, dataset_id)
    examples = dataset_service.iter_canonical_examples(state.objects, dataset)
    page = list(itertools.islice(examples, offset, offset + limit + 1))
    return {
        "object": "list",
        "data": [example.to_dict() for example in page[:limit]],
        "has_more": len(page) > limit,
        "limit": limit,
        "offset": offset,
    }


class TokenCountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255, description="A catalogued base model (id or alias).")
    max_length: int = Field(default=2048, ge=32, le=262_144, description="Training max length, tokens.")
    samples: int = Field(default=3, ge=0, le=10, description="Examples rendered with their trained spans.")


@router.post(
    "/{dataset_id}/tokens",
    summary="Count tokens with a base model's tokenizer: token figures, histogram, rendered samples",
)
def count_dataset_tokens(
    state: State, db: DB, user: Caller, dataset_id: str, body: TokenCountRequest
) -> dict[str, Any]:
    dataset = dataset_service.get_dataset(db, user.id, dataset_id)
    count_tokens(
        db,
        state.objects,
        state.settings,
        dataset,
        model=body.model,
        max_length=body.max_length,
        samples=body.samples,
    )
    return dataset_object(dataset)


class DatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=2000)


@router.patch("/{dataset_id}", summary="Rename a dataset or change its description")
def update_dataset(db: DB, user: Caller, dataset_id: str, body: DatasetUpdate) -> dict[str, Any]:
    row = dataset_service.rename_dataset(
        db, user.id, dataset_id, name=body.name, description=body.description
    )
    return dataset_object(row)


@router.delete("/{dataset_id}", summary="Delete a dataset (jobs that used it keep their record)")
def delete_dataset(db: DB, user: Caller, dataset_id: str) -> dict[str, Any]:
    dataset_service.delete_dataset(db, user.id, dataset_id)
    return {"id": dataset_id, "object": "dataset", "deleted": True}
