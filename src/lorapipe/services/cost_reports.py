"""The owner's cost records over a date range (both ends included, UTC days): the lines, totals by
type and by day, and a CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lorapipe.db.base import utcnow
from lorapipe.db.costs import CostRecord
from lorapipe.errors import UserError

MAX_RANGE_DAYS = 366
COST_KINDS = ("compute", "storage")
CSV_COLUMNS = (
    "id",
    "created_at",
    "day",
    "job_id",
    "attempt_id",
    "kind",
    "backend",
    "gpu_type",
    "seconds",
    "usd",
    "usd_low",
    "usd_high",
    "estimated_mid_usd",
    "price_source",
)


@dataclass(frozen=True)
class DateRange:
    """``start`` .. ``end``, both days included (UTC)."""

    start: dt.date
    end: dt.date

    @classmethod
    def resolve(cls, start: dt.date | None, end: dt.date | None, today: dt.date | None = None) -> DateRange:
        """Missing ends default to the current month so far; the range is checked."""
        today = today or utcnow().date()
        end = end or today
        start = start or min(end, today).replace(day=1)
        if start > end:
            raise UserError(f"start {start} is after end {end}", param="start")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise UserError(f"a range is at most {MAX_RANGE_DAYS} days", param="end")
        return cls(start, end)

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start 00:00, the day after end 00:00) in UTC: the whole end day is included."""
        lo = dt.datetime.combine(self.start, dt.time(), dt.UTC)
        hi = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)
        return lo, hi


@dataclass
class Totals:
    usd: float = 0.0
    seconds: float = 0.0
    count: int = 0

    def add(self, row: CostRecord) -> None:
        self.usd = round(self.usd + float(row.usd), 6)
        self.seconds += row.seconds
        self.count += 1


@dataclass
class CostSummary:
    total: Totals = field(default_factory=Totals)
    by_kind: dict[str, Totals] = field(default_factory=dict)
    #: Every day of the range, in order, including days without costs (a chart needs them).
    by_day: dict[str, Totals] = field(default_factory=dict)


def _query(owner_id: str, days: DateRange, kind: str | None, job_id: str | None) -> Select[CostRecord]:
    lo, hi = days.bounds
    query = select(CostRecord).where(
        CostRecord.owner_id == owner_id, CostRecord.created_at >= lo, CostRecord.created_at < hi
    )
    if kind is not None:
        if kind not in COST_KINDS:
            raise UserError(f"kind={kind!r}; choose one of {', '.join(COST_KINDS)}", param="kind")
        query = query.where(CostRecord.kind == kind)
    if job_id is not None:
        query = query.where(CostRecord.job_id == job_id)
    return query.order_by(CostRecord.created_at, CostRecord.kind, CostRecord.id)


def list_costs(
    session: Session, owner_id: str, days: DateRange, *, kind: str | None = None, job_id: str | None = None
) -> list[CostRecord]:
    """The owner's cost lines in ``days``, oldest first (another user's lines never appear)."""
    return list(session.scalars(_query(owner_id, days, kind, job_id)))


def summarize(rows: Iterable[CostRecord], days: DateRange) -> CostSummary:
    summary = CostSummary()
    day = days.start
    while day <= days.end:
        summary.by_day[day.isoformat()] = Totals()
        day += dt.timedelta(days=1)
    for row in rows:
        summary.total.add(row)
        summary.by_kind.setdefault(row.kind, Totals()).add(row)
        summary.by_day[row.created_at.astimezone(dt.UTC).date().isoformat()].add(row)
    return summary


def to_csv(rows: Iterable[CostRecord]) -> str:
    """One line per cost record, with the header :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        details = row.details or {}
        estimate = details.get("estimate") or {}
        created = row.created_at.astimezone(dt.UTC)
        writer.writerow(
            (
                row.id,
                created.isoformat().replace("+00:00", "Z"),
                created.date().isoformat(),
                row.job_id or "",
                row.attempt_id or "",
                row.kind,
                details.get("backend", ""),
                row.gpu_type or "",
                f"{row.seconds:.0f}",
                f"{float(row.usd):.6f}",
                details.get("usd_low", ""),
                details.get("usd_high", ""),
                estimate.get("estimated_mid_usd", ""),
                row.price_source or "",
            )
        )
    return out.getvalue()
