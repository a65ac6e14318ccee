"""``POST /v1/files``: a ``fine-tune`` upload stored and validated into a dataset, with its file record; and
the file record of a dataset uploaded through ``/api/datasets`` (or the dashboard), so that its ``ds_`` id
names a training file too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.db.datasets import Dataset
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import FileObject
from lorapipe.services.datasets import create_dataset_from_upload
from lorapipe.services.limits import upload_slots
from lorapipe.settings import Settings
from lorapipe.storage import ByteSource, ObjectStore

MAX_FILENAME = 255


def upload_file(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    *,
    owner_id: str,
    filename: str,
    stream: ByteSource,
) -> FileObject:
    """Store and validate a ``fine-tune`` upload; the file is ``processed`` when its dataset is
    ready, ``error`` (with the reason in ``status_details``) otherwise.

    The filename is cleaned first (control characters dropped, at most 255 characters): the file
    record is written after the dataset is ready, and must not then fail on a name its column refuses.
    """
    filename = clean_filename(filename)
    with upload_slots(settings).hold(owner_id):  # one user cannot hold every upload thread
        dataset = create_dataset_from_upload(
            session,
            objects,
            owner_id=owner_id,
            name=filename,
            stream=stream,
            filename=filename,
            max_bytes=settings.max_upload_bytes,
            max_problems=settings.max_report_problems,
        )
    ready = dataset.status == "ready"
    row = FileObject(
        id=new_id("file"),
        owner_id=owner_id,
        filename=filename,
        purpose="fine-tune",
        bytes=dataset.size_bytes or 0,
        status="processed" if ready else "error",
        status_details=None if ready else dataset.error_message,
        dataset_id=dataset.id,
    )
    session.add(row)
    session.commit()
    return row


def file_of_dataset(session: Session, dataset: Dataset) -> FileObject:
    """The live ``fine-tune`` file record of ``dataset`` (made now when it has none, e.g. a dataset
    uploaded through ``/api/datasets``); the caller commits. The dataset's status decides the file's,
    as an upload through ``/v1/files`` does."""
    row = session.scalar(
        select(FileObject)
        .where(
            FileObject.owner_id == dataset.owner_id,
            FileObject.dataset_id == dataset.id,
            FileObject.deleted_at.is_(None),
        )
        .order_by(FileObject.created_at)
        .limit(1)
    )
    if row is not None:
        return row
    ready = dataset.status == "ready"
    row = FileObject(
        id=new_id("file"),
        owner_id=dataset.owner_id,
        filename=clean_filename(dataset.filename or dataset.name),
        purpose="fine-tune",
        bytes=dataset.size_bytes or 0,
        status="processed" if ready else "error",
        status_details=None if ready else (dataset.error_message or f"dataset is {dataset.status}"),
        dataset_id=dataset.id,
    )
    session.add(row)
    session.flush()
    return row


def clean_filename(filename: str) -> str:
    """``filename`` without control characters or surrounding blanks, at most 255 characters."""
    kept = "".join(c for c in filename if c.isprintable() or c == " ").strip()
    return kept[:MAX_FILENAME].strip() or "upload.jsonl"
