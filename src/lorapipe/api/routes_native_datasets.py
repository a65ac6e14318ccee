"""Native dataset routes: streaming upload (size-limited), list with filters over all of the caller's
datasets, detail, validation report, canonical examples, rename, soft delete.

The upload body is the file itself (``Content-Type: application/octet-stream``, or any type), read
chunk by chunk straight into the object store: memory stays flat whatever the size, and the
upload stops with a 413 as soon as it passes ``LORAPIPE_MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.params import PRINTABLE, ResourceId
from lorapipe.api.routes_native_deps import Limit, Offset
from lorapipe.api.upload_body import body_chunks
from lorapipe.datasets.report import DatasetReport
from lorapipe.db.datasets import DatasetStatus
from lorapipe.services import dataset_views as datasets
from lorapipe.services.dataset_views import MAX_EXAMPLES_PAGE, DatasetPublic, ExamplesPage
from lorapipe.services.public import Deleted, Page

router = APIRouter(prefix="/datasets", tags=["datasets"])


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
) -> DatasetPublic:
    # A declared Content-Length over the limit was answered (413) before this runs: body_limit.py.
    return datasets.upload_dataset(
        db,
        state.objects,
        state.settings,
        owner_id=user.id,
        stream=body_chunks(request),
        name=name or filename or "dataset",
        filename=filename,
        format=format,
        description=description,
    )


@router.get("", summary="Your datasets, newest first, with the total over all of them")
def list_datasets(
    db: DB,
    user: Caller,
    status: DatasetStatus | None = None,
    q: Annotated[
        str | None, Query(max_length=255, pattern=PRINTABLE, description="Part of the name (any case).")
    ] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[DatasetPublic]:
    return datasets.list_datasets(db, user.id, status=status, q=q, limit=limit, offset=offset)


@router.get("/{dataset_id}", summary="A dataset")
def get_dataset(db: DB, user: Caller, dataset_id: ResourceId) -> DatasetPublic:
    return datasets.get_dataset(db, user.id, dataset_id)


@router.get("/{dataset_id}/report", summary="The validation report: problems, statistics, samples")
def get_report(db: DB, user: Caller, dataset_id: ResourceId) -> DatasetReport:
    return datasets.get_report(db, user.id, dataset_id)


@router.get("/{dataset_id}/examples", summary="Canonical examples of a ready dataset (what training reads)")
def list_examples(
    state: State,
    db: DB,
    user: Caller,
    dataset_id: ResourceId,
    limit: Annotated[int, Query(ge=1, le=MAX_EXAMPLES_PAGE)] = 5,
    offset: Offset = 0,
) -> ExamplesPage:
    return datasets.list_examples(db, state.objects, user.id, dataset_id, limit=limit, offset=offset)


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
    state: State, db: DB, user: Caller, dataset_id: ResourceId, body: TokenCountRequest
) -> DatasetPublic:
    return datasets.count_dataset_tokens(
        db,
        state.objects,
        state.settings,
        user.id,
        dataset_id,
        model=body.model,
        max_length=body.max_length,
        samples=body.samples,
    )


class DatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=2000)


@router.patch("/{dataset_id}", summary="Rename a dataset or change its description")
def update_dataset(db: DB, user: Caller, dataset_id: ResourceId, body: DatasetUpdate) -> DatasetPublic:
    return datasets.update_dataset(db, user.id, dataset_id, name=body.name, description=body.description)


@router.delete("/{dataset_id}", summary="Delete a dataset (jobs that used it keep their record)")
def delete_dataset(state: State, db: DB, user: Caller, dataset_id: ResourceId) -> Deleted:
    return datasets.delete_dataset(db, state.objects, user.id, dataset_id)
