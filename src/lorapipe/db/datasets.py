"""The ``datasets`` table: one uploaded dataset, its validation outcome and where its bytes live.

Lifecycle: ``uploading`` (bytes arriving) → ``validating`` (stored, being inspected) → ``ready``
(statistics, report and the canonical JSONL stored) or ``error`` (report stored, upload deleted).
Status changes go through :meth:`Dataset.move_to`, which checks :data:`DATASET_TRANSITIONS`.

``owner_id`` is a plain indexed string, not a foreign key, so this table does not depend on the
users table. Identical bytes are stored once per owner: a partial unique index on
``(owner_id, sha256)`` over rows that are not soft-deleted.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from lorapipe.db.base import Base, JSONDocument, UTCDateTime, utcnow
from lorapipe.errors import InvalidTransitionError


class DatasetStatus(enum.StrEnum):
    UPLOADING = "uploading"
    VALIDATING = "validating"
    READY = "ready"
    ERROR = "error"


DATASET_TRANSITIONS: dict[DatasetStatus, frozenset[DatasetStatus]] = {
    DatasetStatus.UPLOADING: frozenset({DatasetStatus.VALIDATING, DatasetStatus.ERROR}),
    DatasetStatus.VALIDATING: frozenset({DatasetStatus.READY, DatasetStatus.ERROR}),
    DatasetStatus.READY: frozenset(),
    DatasetStatus.ERROR: frozenset(),
}
"""Allowed status changes; ``ready`` and ``error`` are terminal."""

_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in DatasetStatus)
LIVE = text("deleted_at IS NULL")


def new_dataset_id() -> str:
    """A new dataset id: ``ds_`` and 32 hex digits."""
    return f"ds_{uuid.uuid4().hex}"


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_bytes"),
        Index("ix_datasets_owner_id_created_at", "owner_id", "created_at"),
        Index(
            "uq_datasets_owner_id_sha256_live",
            "owner_id",
            "sha256",
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_dataset_id)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str | None] = mapped_column(String(255))
    """The uploaded file's original name, for display only."""
    format: Mapped[str | None] = mapped_column(String(32))
    """The format asked for, then the format the inspection read."""
    status: Mapped[str] = mapped_column(String(16), default=DatasetStatus.UPLOADING)
    storage_key: Mapped[str | None] = mapped_column(String(1024))
    """Object-store key of the uploaded bytes (deleted, and set to None, when validation fails)."""
    canonical_key: Mapped[str | None] = mapped_column(String(1024))
    """Object-store key of the canonical JSONL (one ``Example.to_dict()`` per line) once ready."""
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    statistics: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def move_to(self, status: DatasetStatus) -> None:
        """Change the status, refusing any change :data:`DATASET_TRANSITIONS` does not allow."""
        current = DatasetStatus(self.status)
        if status not in DATASET_TRANSITIONS[current]:
            raise InvalidTransitionError(
                f"dataset {self.id}: cannot go from {current} to {status}", param="status"
            )
        self.status = status

    def __repr__(self) -> str:
        return (
            f"Dataset(id={self.id!r}, owner_id={self.owner_id!r}, name={self.name!r}, status={self.status!r})"
        )
