"""Datasets as the API and the dashboard show them: the dataset object, filtered pages over all of
the caller's datasets, the validation report, canonical examples; and the use cases of
:mod:`lorapipe.services.datasets` answered with those objects."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorapipe.contract.conversation import Role
from lorapipe.datasets.report import DatasetReport
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.errors import NotFoundError
from lorapipe.services import datasets as dataset_service
from lorapipe.services.dataset_tokens import count_tokens
from lorapipe.services.limits import upload_slots
from lorapipe.services.public import Deleted, Page, rows_with_total, ts
from lorapipe.settings import Settings
from lorapipe.storage import ByteSource, ObjectStore

MAX_EXAMPLES_PAGE = 50
DATASET_SORTS: dict[str, Any] = {
    "name": Dataset.name,
    "status": Dataset.status,
    "size": Dataset.size_bytes,
    "created": Dataset.created_at,
}
"""Columns a dataset list sorts by."""
DatasetSort = Literal["name", "-name", "status", "-status", "size", "-size", "created", "-created"]


class DatasetPublic(BaseModel):
    id: str
    object: Literal["dataset"] = "dataset"
    name: str
    description: str
    filename: str | None = Field(description="The uploaded file's name.")
    format: str | None = Field(description="The format the inspection read.")
    status: DatasetStatus
    bytes: int | None
    sha256: str | None
    statistics: dict[str, Any] = Field(description="Conversations, examples, messages, tokens when counted.")
    error_message: str | None = Field(description="Why the dataset cannot be trained on.")
    created_at: int
    updated_at: int

    @classmethod
    def from_row(cls, row: Dataset) -> DatasetPublic:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            filename=row.filename,
            format=row.format,
            status=DatasetStatus(row.status),
            bytes=row.size_bytes,
            sha256=row.sha256,
            statistics=row.statistics or {},
            error_message=row.error_message,
            created_at=ts(row.created_at),
            updated_at=ts(row.updated_at),
        )


class MessagePublic(BaseModel):
    role: Role
    content: str
    trained: bool = Field(description="Whether this message's tokens carry labels.")


class ExamplePublic(BaseModel):
    """One canonical example: what training reads."""

    id: str
    conversation_id: str
    messages: list[MessagePublic]
    metadata: dict[str, Any]


class ExamplesPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[ExamplePublic]
    has_more: bool
    limit: int
    offset: int


def upload_dataset(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    *,
    owner_id: str,
    stream: ByteSource,
    name: str,
    filename: str | None = None,
    format: str | None = None,
    description: str = "",
) -> DatasetPublic:
    """Store and validate an upload (see :func:`~lorapipe.services.datasets.create_dataset_from_upload`)."""
    with upload_slots(settings).hold(owner_id):  # one user cannot hold every upload thread
        dataset = dataset_service.create_dataset_from_upload(
            session,
            objects,
            owner_id=owner_id,
            name=name,
            stream=stream,
            max_bytes=settings.max_upload_bytes,
            filename=filename,
            format=format,
            description=description,
            max_problems=settings.max_report_problems,
        )
    return DatasetPublic.from_row(dataset)


def list_datasets(
    session: Session,
    owner_id: str,
    *,
    status: DatasetStatus | None = None,
    q: str | None = None,
    limit: int = 20,
    offset: int = 0,
    sort: DatasetSort = "-created",
) -> Page[DatasetPublic]:
    """The owner's live datasets (newest first unless ``sort`` says otherwise: a column of
    :data:`DATASET_SORTS`, ``-`` for descending), optionally of one status and with ``q`` in the name
    (any case), with the total over all pages."""
    query = select(Dataset).where(Dataset.owner_id == owner_id, Dataset.deleted_at.is_(None))
    if status is not None:
        query = query.where(Dataset.status == status.value)
    if q:
        query = query.where(func.lower(Dataset.name).contains(q.lower(), autoescape=True))
    column = DATASET_SORTS[sort.removeprefix("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    query = query.order_by(order, Dataset.created_at.desc(), Dataset.id.desc())
    rows, total = rows_with_total(session, query, limit=limit, offset=offset)
    return Page[DatasetPublic].of(
        [DatasetPublic.from_row(r) for r in rows], total=total, limit=limit, offset=offset
    )


def get_dataset(session: Session, owner_id: str, dataset_id: str) -> DatasetPublic:
    return DatasetPublic.from_row(dataset_service.get_dataset(session, owner_id, dataset_id))


def find_report(session: Session, owner_id: str, dataset_id: str) -> DatasetReport | None:
    """The validation report, or None while the dataset has none."""
    dataset = dataset_service.get_dataset(session, owner_id, dataset_id)
    return DatasetReport.model_validate(dataset.report) if dataset.report is not None else None


def get_report(session: Session, owner_id: str, dataset_id: str) -> DatasetReport:
    """The validation report; :class:`NotFoundError` while the dataset has none."""
    report = find_report(session, owner_id, dataset_id)
    if report is None:
        status = dataset_service.get_dataset(session, owner_id, dataset_id).status
        raise NotFoundError(f"dataset {dataset_id} has no report yet ({status})", param="dataset_id")
    return report


def list_examples(
    session: Session, objects: ObjectStore, owner_id: str, dataset_id: str, *, limit: int = 5, offset: int = 0
) -> ExamplesPage:
    """Canonical examples of a ready dataset, in file order."""
    dataset = dataset_service.get_dataset(session, owner_id, dataset_id)
    examples = dataset_service.iter_canonical_examples(objects, dataset)
    page = list(itertools.islice(examples, offset, offset + limit + 1))
    data = [ExamplePublic.model_validate(example.to_dict()) for example in page[:limit]]
    return ExamplesPage(data=data, has_more=len(page) > limit, limit=limit, offset=offset)


def count_dataset_tokens(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    owner_id: str,
    dataset_id: str,
    *,
    model: str,
    max_length: int,
    samples: int,
) -> DatasetPublic:
    """Count tokens with ``model``'s tokenizer (see :func:`~lorapipe.services.dataset_tokens.count_tokens`)."""
    dataset = dataset_service.get_dataset(session, owner_id, dataset_id)
    count_tokens(session, objects, settings, dataset, model=model, max_length=max_length, samples=samples)
    return DatasetPublic.from_row(dataset)


def update_dataset(
    session: Session, owner_id: str, dataset_id: str, *, name: str | None, description: str | None
) -> DatasetPublic:
    row = dataset_service.rename_dataset(session, owner_id, dataset_id, name=name, description=description)
    return DatasetPublic.from_row(row)


def delete_dataset(session: Session, objects: ObjectStore, owner_id: str, dataset_id: str) -> Deleted:
    """Delete the dataset; its objects go now, or when the last unfinished job on it ends."""
    dataset_service.delete_dataset(session, owner_id, dataset_id)
    dataset_service.purge_deleted_datasets(session, objects, dataset_id=dataset_id)
    return Deleted(id=dataset_id, object="dataset")
