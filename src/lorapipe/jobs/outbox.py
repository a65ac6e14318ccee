"""Rows for what a job produces for its owner besides the adapter: cost records, in-app
notifications, webhooks and their deliveries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lorapipe.db.base import Base, JSONDocument, UTCDateTime, utcnow

DELIVERY_STATUS_VALUES = ("pending", "succeeded", "failed")
SEVERITY_VALUES = ("low", "medium", "high")


class CostRecord(Base):
    """Billed or measured GPU time of one attempt times the price of the GPU actually used."""

    __tablename__ = "cost_records"
    __table_args__ = (
        Index("ix_cost_records_owner_id_created_at", "owner_id", "created_at"),
        # One line per kind and attempt: recording costs twice (two reconcilers) books nothing twice.
        UniqueConstraint("attempt_id", "kind"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    attempt_id: Mapped[str | None] = mapped_column(
        ForeignKey("attempts.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[str] = mapped_column(String(32))
    gpu_type: Mapped[str | None] = mapped_column(String(64), default=None)
    seconds: Mapped[float] = mapped_column()
    usd: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    #: Where the price came from and its date (the catalogue entry).
    price_source: Mapped[str | None] = mapped_column(Text, default=None)
    #: The priced bill: range, price and unit, backend, GPU count, and estimate vs actual.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


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


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    #: Standard Webhooks signing secret (``whsec_...``); kept readable because signing needs it.
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
