"""Rows the notification, webhook and cost services add: a user's monthly budget and the log of
every webhook delivery try (status code, latency, error).

The notifications, webhooks, deliveries and cost records themselves are in
:mod:`lorapipe.jobs.outbox`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Integer, Numeric, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import lorapipe.jobs.outbox  # noqa: F401  (webhook_attempts references webhook_deliveries)
from lorapipe.db.base import Base, UTCDateTime, utcnow


class Budget(Base):
    """A user's monthly spending limit in USD. No row: no limit."""

    __tablename__ = "budgets"
    __table_args__ = (CheckConstraint("monthly_usd >= 0", name="monthly_usd"),)

    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    monthly_usd: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookAttempt(Base):
    """One HTTP try of a webhook delivery. ``status_code`` is None when no response came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    #: From sending the request to the end of the response (or the failure), in milliseconds.
    latency_ms: Mapped[float] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
