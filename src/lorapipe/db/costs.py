"""What GPU time cost: one record per attempt (billed or measured seconds times the price of the GPU
actually used), and each user's monthly budget."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lorapipe.db.base import Base, JSONDocument, UTCDateTime, utcnow


class CostRecord(Base):
    """Billed or measured GPU time of one attempt times the price of the GPU actually used."""

    __tablename__ = "cost_records"
    __table_args__ = (
        Index("ix_cost_records_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_cost_records_job_id", "job_id"),  # a job's cost so far, on every native job read
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


class Budget(Base):
    """A user's monthly spending limit in USD. No row: no limit."""

    __tablename__ = "budgets"
    __table_args__ = (CheckConstraint("monthly_usd >= 0", name="monthly_usd"),)

    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    monthly_usd: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
