"""Training files as OpenAI's ``file`` object (``dataset_id``, the dataset the upload was validated
into, is our addition). Uploads are :func:`lorapipe.services.file_uploads.upload_file`; a delete takes the
dataset with it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.db.base import utcnow
from lorapipe.db.jobs import FileObject
from lorapipe.jobs import store
from lorapipe.services import datasets
from lorapipe.services.public import CursorPage, Deleted, ts
from lorapipe.storage import ObjectStore


class FilePublic(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: Literal["fine-tune"]
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None = Field(description="Why the file cannot be used (status error).")
    expires_at: int | None = None
    dataset_id: str | None

    @classmethod
    def from_row(cls, row: FileObject) -> FilePublic:
        return cls.model_validate(
            {
                "id": row.id,
                "bytes": row.bytes,
                "created_at": ts(row.created_at),
                "filename": row.filename,
                "purpose": row.purpose,
                "status": row.status,
                "status_details": row.status_details,
                "dataset_id": row.dataset_id,
            }
        )


def get_file(session: Session, owner_id: str, file_id: str) -> FilePublic:
    return FilePublic.from_row(store.get_file(session, owner_id, file_id))


def delete_file(session: Session, objects: ObjectStore, owner_id: str, file_id: str) -> Deleted:
    """Delete the file and the dataset it was validated into: it leaves lists, no new job may use it,
    and its objects go now, or when the last unfinished job on it ends. Commits."""
    row = store.get_file(session, owner_id, file_id)
    row.deleted_at = utcnow()
    session.commit()
    if row.dataset_id is not None:
        datasets.delete_dataset(session, owner_id, row.dataset_id)
        datasets.purge_deleted_datasets(session, objects, dataset_id=row.dataset_id)
    return Deleted(id=file_id, object="file")


def list_files(session: Session, owner_id: str, *, after: str | None, limit: int) -> CursorPage[FilePublic]:
    """The owner's files newest first, OpenAI's cursor list (``after``: a file id)."""
    page = store.list_files(session, owner_id, after, limit)
    return CursorPage[FilePublic].of([FilePublic.from_row(f) for f in page.items], has_more=page.has_more)
