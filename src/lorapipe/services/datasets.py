"""Dataset use cases: upload (:mod:`lorapipe.services.dataset_upload`), read, rename, delete.

Every function takes the caller's owner id and never returns another owner's dataset: a dataset that
belongs to someone else is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from lorapipe.contract.conversation import Example
from lorapipe.contract.job_states import ACTIVE
from lorapipe.db.base import utcnow
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.db.jobs import FileObject, Job
from lorapipe.errors import ConflictError, NotFoundError
from lorapipe.services.dataset_upload import (
    canonical_key,
    check_name,
    create_dataset_from_upload,
    reject_dataset,
    upload_key,
)
from lorapipe.storage import ObjectStore

__all__ = [
    "canonical_key",
    "create_dataset_from_upload",
    "delete_dataset",
    "fail_stale_datasets",
    "get_dataset",
    "iter_canonical_examples",
    "list_datasets",
    "purge_deleted_datasets",
    "rename_dataset",
    "upload_key",
]


def get_dataset(
    session: Session, owner_id: str, dataset_id: str, *, include_deleted: bool = False
) -> Dataset:
    """The owner's dataset ``dataset_id``; :class:`NotFoundError` if it is not theirs or is deleted."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.owner_id != owner_id or (dataset.is_deleted and not include_deleted):
        raise NotFoundError(f"no dataset {dataset_id!r}", param="dataset_id")
    return dataset


def list_datasets(
    session: Session,
    owner_id: str,
    *,
    status: DatasetStatus | None = None,
    include_deleted: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Dataset]:
    """The owner's datasets, newest first."""
    query = select(Dataset).where(Dataset.owner_id == owner_id)
    if status is not None:
        query = query.where(Dataset.status == DatasetStatus(status))
    if not include_deleted:
        query = query.where(Dataset.deleted_at.is_(None))
    query = query.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def rename_dataset(
    session: Session,
    owner_id: str,
    dataset_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Dataset:
    """Change the name and/or description of the owner's dataset."""
    dataset = get_dataset(session, owner_id, dataset_id)
    if name is not None:
        dataset.name = check_name(name)
    if description is not None:
        dataset.description = description
    session.commit()
    return dataset


def delete_dataset(session: Session, owner_id: str, dataset_id: str) -> Dataset:
    """Soft-delete the owner's dataset (idempotent).

    The row stays, so jobs that trained on it keep their lineage; the dataset no longer appears in
    lists, no longer blocks a re-upload of the same bytes, and no new job may train on it. Its objects
    go with :func:`purge_deleted_datasets`, once no unfinished job needs them.
    """
    dataset = get_dataset(session, owner_id, dataset_id, include_deleted=True)
    if dataset.deleted_at is None:
        dataset.deleted_at = utcnow()
        # The /v1 files validated into it go too: a file whose data is gone must not stay listed.
        session.execute(
            update(FileObject)
            .where(FileObject.dataset_id == dataset.id, FileObject.deleted_at.is_(None))
            .values(deleted_at=dataset.deleted_at)
        )
        session.commit()
    return dataset


def purge_deleted_datasets(
    session: Session, store: ObjectStore, *, dataset_id: str | None = None
) -> list[str]:
    """Delete the objects (upload and canonical copy) of deleted datasets that no unfinished job trains
    or validates on (or of ``dataset_id`` only, under the same rule); returns their ids. Commits.

    Run after a delete and after jobs end: a deleted dataset's objects outlive it only while a queued
    or running job still reads them.
    """
    in_use = (
        select(FileObject.dataset_id)
        .join(Job, or_(Job.training_file == FileObject.id, Job.validation_file == FileObject.id))
        .where(Job.status.in_([status.value for status in ACTIVE]), FileObject.dataset_id.is_not(None))
    )
    query = select(Dataset).where(
        Dataset.deleted_at.is_not(None),
        or_(Dataset.storage_key.is_not(None), Dataset.canonical_key.is_not(None)),
        Dataset.id.not_in(in_use),
    )
    if dataset_id is not None:
        query = query.where(Dataset.id == dataset_id)
    purged = []
    for dataset in session.scalars(query).all():
        for key in {dataset.storage_key, dataset.canonical_key, canonical_key(dataset.id)}:
            if key:
                store.delete(key)
        dataset.storage_key = dataset.canonical_key = None
        purged.append(dataset.id)
    session.commit()
    return purged


def fail_stale_datasets(session: Session, store: ObjectStore, *, older_than: dt.timedelta) -> list[str]:
    """End in ``error`` the datasets stuck in ``uploading``/``validating`` for longer than ``older_than``
    (their process died mid-way), deleting their objects. Returns their ids; for a periodic sweep."""
    cutoff = utcnow() - older_than
    stuck = session.scalars(
        select(Dataset).where(
            Dataset.status.in_([DatasetStatus.UPLOADING, DatasetStatus.VALIDATING]),
            Dataset.updated_at < cutoff,
        )
    ).all()
    for dataset in stuck:
        reject_dataset(
            session,
            store,
            dataset,
            None,
            f"abandoned while {dataset.status} (no progress since {cutoff:%Y-%m-%d %H:%M} UTC)",
        )
    return [d.id for d in stuck]


def iter_canonical_examples(store: ObjectStore, dataset: Dataset) -> Iterator[Example]:
    """The examples of a ``ready`` dataset, read from its canonical JSONL (what training consumes)."""
    if dataset.status != DatasetStatus.READY or dataset.canonical_key is None:
        raise ConflictError(f"dataset {dataset.id} is {dataset.status}, not ready", param="dataset_id")
    with store.open(dataset.canonical_key) as handle:
        for index, line in enumerate(handle):
            yield Example.from_dict(json.loads(line), record=index, line=index + 1)
