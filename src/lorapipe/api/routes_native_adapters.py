"""Native adapter routes: list, detail, download one file or all of them as a zip, rename, delete.

An adapter's files are the ones its verified manifest lists (plus ``manifest.json``); nothing else
under its folder can be downloaded, so no path can reach outside it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.routes_native_deps import Limit, Offset, StreamCaller, offset_page
from lorapipe.api.routes_native_files import adapter_files, stream_file, stream_zip
from lorapipe.api.shapes import ts
from lorapipe.db.base import utcnow
from lorapipe.db.jobs import Adapter, Job
from lorapipe.errors import ConflictError, NotFoundError

router = APIRouter(prefix="/adapters", tags=["adapters"])
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,254}$")


def adapter_object(row: Adapter) -> dict[str, Any]:
    manifest = row.manifest or {}
    return {
        "id": row.id,
        "object": "adapter",
        "name": row.name,
        "base_model": row.base_model,
        "job_id": row.job_id,
        "bytes": row.size_bytes,
        "created_at": ts(row.created_at),
        "files": adapter_files(row),
        "summary": manifest.get("summary") or manifest.get("metrics") or {},
    }


def get_adapter(session: Session, owner_id: str, adapter_id: str) -> Adapter:
    """The caller's live adapter; another user's (or a deleted one) is "not found"."""
    row = session.get(Adapter, adapter_id)
    if row is None or row.owner_id != owner_id or row.deleted_at is not None:
        raise NotFoundError(f"no adapter with id {adapter_id!r}", param="adapter_id")
    return row


@router.get("", summary="Your adapters, newest first, with the total over all of them")
def list_adapters(db: DB, user: Caller, limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
    query = (
        select(Adapter)
        .where(Adapter.owner_id == user.id, Adapter.deleted_at.is_(None))
        .order_by(Adapter.created_at.desc(), Adapter.id.desc())
    )
    return offset_page(db, query, limit=limit, offset=offset, to_dict=adapter_object)


@router.get("/{adapter_id}", summary="An adapter: its files, base model and training summary")
def get_adapter_route(db: DB, user: Caller, adapter_id: str) -> dict[str, Any]:
    row = get_adapter(db, user.id, adapter_id)
    return adapter_object(row) | {"manifest": row.manifest}


@router.get(
    "/{adapter_id}/download",
    summary="All of the adapter's files as one zip",
    response_class=StreamingResponse,
)
def download_zip(state: State, user: StreamCaller, adapter_id: str) -> StreamingResponse:
    with state.sessions() as session:
        row = get_adapter(session, user.id, adapter_id)
    return stream_zip(row)


@router.get(
    "/{adapter_id}/files/{path:path}", summary="One file of the adapter", response_class=StreamingResponse
)
def download_file(
    state: State, user: StreamCaller, adapter_id: str, path: Annotated[str, Path(max_length=1024)]
) -> StreamingResponse:
    with state.sessions() as session:
        row = get_adapter(session, user.id, adapter_id)
    return stream_file(row, path)


class AdapterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=255, pattern=NAME.pattern, description="Letters, digits and :._-"
    )


@router.patch("/{adapter_id}", summary="Rename an adapter (its model id in /v1/models follows)")
def rename_adapter(db: DB, user: Caller, adapter_id: str, body: AdapterUpdate) -> dict[str, Any]:
    row = get_adapter(db, user.id, adapter_id)
    if body.name != row.name:
        taken = ConflictError(f"an adapter named {body.name!r} already exists", param="name")
        if db.scalar(select(Adapter.id).where(Adapter.name == body.name)) is not None:
            raise taken
        job = db.get(Job, row.job_id)
        row.name = body.name
        if job is not None:
            # The job's fine_tuned_model is the adapter's model id: keep the two in step.
            job.fine_tuned_model = body.name
        try:
            db.commit()
        except DBIntegrityError:  # the same name taken concurrently
            db.rollback()
            raise taken from None
    return adapter_object(row)


@router.delete("/{adapter_id}", summary="Delete an adapter (it leaves lists and /v1/models)")
def delete_adapter(db: DB, user: Caller, adapter_id: str) -> dict[str, Any]:
    row = get_adapter(db, user.id, adapter_id)
    row.deleted_at = utcnow()
    db.commit()
    return {"id": adapter_id, "object": "adapter", "deleted": True}
