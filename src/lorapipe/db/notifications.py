"""In-app notifications: what a user is told about their jobs, datasets and budget."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lorapipe.db.base import Base, JSONDocument, UTCDateTime, utcnow

SEVERITY_VALUES = ("low", "medium", "high")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("severity IN ('low', 'medium', 'high')", name="severity"),
        Index("ix_notifications_owner_id_created_at", "owner_id", "created_at"),
        # A notification about one fact (job X ended, 80 % of this month's budget) exists once.
        UniqueConstraint("owner_id", "dedupe_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8), default="low")
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), default=None)
    #: Machine-readable facts (status, reason, dataset id, budget figures); also the webhook payload.
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
