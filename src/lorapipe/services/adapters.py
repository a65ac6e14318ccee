"""Adapter use cases: list, read, rename (the job's ``fine_tuned_model`` follows), delete, and
the downloads of :mod:`lorapipe.services.adapter_files`.

Every function takes the caller's owner id: another user's adapter, or a deleted one, is "not found".
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from lorapipe.contract.job_states import JobStatus
from lorapipe.db.base import utcnow
from lorapipe.db.jobs import Adapter, Job
from lorapipe.errors import ConflictError, NotFoundError, StorageKeyError
from lorapipe.services.adapter_files import (
    AdapterFile,
    FileDownload,
    adapter_files,
    file_download,
    zip_download,
)
from lorapipe.services.attempt_end import fine_tuned_model_name
from lorapipe.services.public import Deleted, Page, rows_with_total, ts
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,254}$")
"""An adapter name: its model id in ``/v1/models`` and in ``fine_tuned_model``."""


class AdapterPublic(BaseModel):
    id: str
    object: Literal["adapter"] = "adapter"
    name: str = Field(description="The adapter's model id (``fine_tuned_model`` of its job).")
    base_model: str
    job_id: str
    bytes: int | None = Field(description="Size of the adapter's files.")
    created_at: int
    files: list[AdapterFile]
    summary: dict[str, Any] = Field(description="Training summary: losses before and after, tokens, time.")

    @classmethod
    def from_row(cls, row: Adapter) -> AdapterPublic:
        manifest = row.manifest or {}
        return cls(
            id=row.id,
            name=row.name,
            base_model=row.base_model,
            job_id=row.job_id,
            bytes=row.size_bytes,
            created_at=ts(row.created_at),
            files=adapter_files(row),
            summary=manifest.get("summary") or manifest.get("metrics") or {},
        )


class AdapterDetail(AdapterPublic):
    """An adapter with its full manifest (files with checksums, resolved config, library versions)."""

    manifest: dict[str, Any] | None


def adapter_row(session: Session, owner_id: str, adapter_id: str) -> Adapter:
    """The caller's live adapter; another user's (or a deleted one) is :class:`NotFoundError`."""
    row = session.get(Adapter, adapter_id)
    if row is None or row.owner_id != owner_id or row.deleted_at is not None:
        raise NotFoundError(f"no adapter with id {adapter_id!r}", param="adapter_id")
    return row


AdapterSort = Literal["date", "eval_loss"]


def _eval_loss_after(adapter: AdapterPublic) -> float:
    value = adapter.summary.get("eval_loss_after")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.inf


def list_adapters(
    session: Session, owner_id: str, *, limit: int = 20, offset: int = 0, sort: AdapterSort = "date"
) -> Page[AdapterPublic]:
    """The owner's adapters, with the total over all pages: newest first, or (``sort="eval_loss"``)
    lowest held-out loss after training first, adapters without one last."""
    query = (
        select(Adapter)
        .where(Adapter.owner_id == owner_id, Adapter.deleted_at.is_(None))
        .order_by(Adapter.created_at.desc(), Adapter.id.desc())
    )
    if sort == "eval_loss":
        # The loss lives in the manifest (JSON): sorted here, over one user's adapters (a few hundred).
        every = sorted((AdapterPublic.from_row(r) for r in session.scalars(query)), key=_eval_loss_after)
        return Page[AdapterPublic].of(
            every[offset : offset + limit], total=len(every), limit=limit, offset=offset
        )
    rows, total = rows_with_total(session, query, limit=limit, offset=offset)
    return Page[AdapterPublic].of(
        [AdapterPublic.from_row(r) for r in rows], total=total, limit=limit, offset=offset
    )


def get_adapter(session: Session, owner_id: str, adapter_id: str) -> AdapterDetail:
    row = adapter_row(session, owner_id, adapter_id)
    return AdapterDetail.model_validate({**dict(AdapterPublic.from_row(row)), "manifest": row.manifest})


def adapter_of_job(session: Session, owner_id: str, job_id: str) -> AdapterPublic | None:
    """The live adapter a job left, if any."""
    row = session.scalars(
        select(Adapter)
        .where(Adapter.owner_id == owner_id, Adapter.job_id == job_id, Adapter.deleted_at.is_(None))
        .order_by(Adapter.created_at.desc())
        .limit(1)
    ).first()
    return AdapterPublic.from_row(row) if row is not None else None


def _reserved_by(session: Session, owner_id: str, name: str) -> Job | None:
    """The owner's unfinished job whose adapter will get ``name`` when it succeeds.

    The name is fixed at the job's creation (:func:`fine_tuned_model_name`: model, suffix and job id,
    the id last), so the job to check is the one named by the last segment.
    """
    job = session.get(Job, name.rsplit(":", 1)[-1])
    if job is None or job.owner_id != owner_id or JobStatus(job.status).is_terminal:
        return None
    return job if fine_tuned_model_name(job) == name else None


def rename_adapter(session: Session, owner_id: str, adapter_id: str, name: str) -> AdapterPublic:
    """Rename; the job's ``fine_tuned_model`` follows. A name taken by another of the owner's adapters,
    or reserved for an unfinished job's adapter, is a 409; other users' names do not count. Commits."""
    row = adapter_row(session, owner_id, adapter_id)
    if name != row.name:
        taken = ConflictError(f"you already have an adapter named {name!r}", param="name")
        owned = select(Adapter.id).where(Adapter.owner_id == owner_id, Adapter.name == name)
        if session.scalar(owned) is not None:
            raise taken
        reserved = _reserved_by(session, owner_id, name)
        if reserved is not None:
            raise ConflictError(f"{name!r} is the name job {reserved.id} will give its adapter", param="name")
        job = session.get(Job, row.job_id)
        row.name = name
        if job is not None:
            # The job's fine_tuned_model is the adapter's model id: keep the two in step.
            job.fine_tuned_model = name
        try:
            session.commit()
        except DBIntegrityError:  # the same name taken concurrently
            session.rollback()
            raise taken from None
    return AdapterPublic.from_row(row)


def delete_adapter(session: Session, objects: ObjectStore, owner_id: str, adapter_id: str) -> Deleted:
    """The adapter leaves lists and ``/v1/models`` (its row stays, for the job's record) and its files
    leave the object store. Commits."""
    row = adapter_row(session, owner_id, adapter_id)
    row.deleted_at = utcnow()
    session.commit()
    try:
        prefix = objects.key_of(row.location)
    except StorageKeyError:
        log.warning("adapter %s: its files are not in the object store; left in place", adapter_id)
    else:
        for key in objects.list(prefix):
            objects.delete(key)
    return Deleted(id=adapter_id, object="adapter")


def download_file(
    session: Session, settings: Settings, owner_id: str, adapter_id: str, path: str
) -> FileDownload:
    """One of the caller's adapter's files (see :func:`~lorapipe.services.adapter_files.file_download`)."""
    return file_download(adapter_row(session, owner_id, adapter_id), path, settings)


def download_zip(session: Session, settings: Settings, owner_id: str, adapter_id: str) -> FileDownload:
    """All of the caller's adapter's files as one zip."""
    return zip_download(adapter_row(session, owner_id, adapter_id), settings)
