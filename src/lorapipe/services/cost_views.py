"""The caller's costs and budget as the API shows them: cost lines over a date range (both ends
included) with totals by type and by day, and the monthly budget with this month's spend."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.db.base import utcnow
from lorapipe.db.costs import CostRecord
from lorapipe.estimate.budget import check_budget
from lorapipe.services import budgets
from lorapipe.services.cost_reports import CostSummary, DateRange, Totals, list_costs, summarize, to_csv
from lorapipe.services.public import ts

CostKind = Literal["compute", "storage"]


class CostPrice(BaseModel):
    usd: float | None = Field(description="Price per unit, USD.")
    unit: str | None = Field(description="e.g. gpu_second, gpu_hour, gb_month.")
    source: str | None = Field(description="Where the price comes from.")
    date: str | None = Field(description="When the price was read.")


class CostPublic(BaseModel):
    id: str
    object: Literal["cost"] = "cost"
    kind: str
    job_id: str | None
    attempt_id: str | None
    backend: str | None
    gpu_type: str | None
    seconds: float = Field(description="Billed or measured seconds.")
    usd: float
    usd_low: float | None
    usd_high: float | None
    price: CostPrice
    detail: str | None
    estimate: dict[str, Any] | None = Field(description="The job's estimate next to this actual.")
    created_at: int

    @classmethod
    def from_row(cls, row: CostRecord) -> CostPublic:
        details = row.details or {}
        return cls(
            id=row.id,
            kind=row.kind,
            job_id=row.job_id,
            attempt_id=row.attempt_id,
            backend=details.get("backend"),
            gpu_type=row.gpu_type,
            seconds=row.seconds,
            usd=float(row.usd),
            usd_low=details.get("usd_low"),
            usd_high=details.get("usd_high"),
            price=CostPrice(
                usd=details.get("price_usd"),
                unit=details.get("price_unit"),
                source=row.price_source,
                date=details.get("price_date"),
            ),
            detail=details.get("detail"),
            estimate=details.get("estimate"),
            created_at=ts(row.created_at),
        )


class TotalsPublic(BaseModel):
    usd: float
    seconds: float
    count: int

    @classmethod
    def of(cls, t: Totals) -> TotalsPublic:
        return cls(usd=t.usd, seconds=t.seconds, count=t.count)


class DayTotals(BaseModel):
    day: str = Field(description="YYYY-MM-DD (UTC).")
    usd: float
    seconds: float
    count: int


class CostSummaryPublic(BaseModel):
    start: str = Field(description="First day (UTC), included.")
    end: str = Field(description="Last day (UTC), included.")
    total: TotalsPublic
    by_kind: dict[str, TotalsPublic]
    by_day: list[DayTotals] = Field(description="Every day of the range, in order, days without costs too.")

    @classmethod
    def of(cls, summary: CostSummary, days: DateRange) -> CostSummaryPublic:
        return cls(
            start=days.start.isoformat(),
            end=days.end.isoformat(),
            total=TotalsPublic.of(summary.total),
            by_kind={k: TotalsPublic.of(v) for k, v in sorted(summary.by_kind.items())},
            by_day=[
                DayTotals(day=d, usd=v.usd, seconds=v.seconds, count=v.count)
                for d, v in summary.by_day.items()
            ],
        )


class CostList(BaseModel):
    object: Literal["list"] = "list"
    data: list[CostPublic]
    summary: CostSummaryPublic


class BudgetPublic(BaseModel):
    object: Literal["budget"] = "budget"
    monthly_usd: float | None = Field(description="USD per calendar month (UTC); null: no budget.")
    month: str = Field(description="This month, YYYY-MM (UTC).")
    spent_usd: float
    fraction: float | None = Field(description="Spent / budget (null without a budget).")
    level: str = Field(description="ok, warning (80 %) or exceeded (100 %).")
    new_jobs_blocked: bool


@dataclass(frozen=True)
class CostCsv:
    filename: str
    text: str


def costs(
    session: Session,
    owner_id: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    kind: CostKind | None = None,
    job_id: str | None = None,
) -> CostList:
    """The owner's cost lines from ``start`` to ``end`` (default: this month so far), with totals."""
    days = DateRange.resolve(start, end)
    rows = list_costs(session, owner_id, days, kind=kind, job_id=job_id)
    return CostList(
        data=[CostPublic.from_row(r) for r in rows], summary=CostSummaryPublic.of(summarize(rows, days), days)
    )


def cost_summary(
    session: Session,
    owner_id: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    kind: CostKind | None = None,
) -> CostSummaryPublic:
    days = DateRange.resolve(start, end)
    return CostSummaryPublic.of(summarize(list_costs(session, owner_id, days, kind=kind), days), days)


def costs_csv(
    session: Session,
    owner_id: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    kind: CostKind | None = None,
) -> CostCsv:
    """The cost lines as CSV (header :data:`~lorapipe.services.cost_reports.CSV_COLUMNS`), and a file name."""
    days = DateRange.resolve(start, end)
    text = to_csv(list_costs(session, owner_id, days, kind=kind))
    return CostCsv(filename=f"lorapipe-costs-{days.start}-{days.end}.csv", text=text)


def budget_status(session: Session, owner_id: str) -> BudgetPublic:
    """The owner's budget, this month's spend and what it means for new jobs."""
    now = utcnow()
    budget = budgets.get_budget(session, owner_id)
    spent = budgets.month_spend(session, owner_id, now)
    decision = check_budget(spent, 0.0, budget)
    return BudgetPublic(
        monthly_usd=budget,
        month=budgets.month_bounds(now)[0].strftime("%Y-%m"),
        spent_usd=spent,
        fraction=round(decision.fraction, 4) if budget and math.isfinite(decision.fraction) else None,
        level=decision.level,
        new_jobs_blocked=not decision.allowed,
    )


def set_budget(session: Session, owner_id: str, monthly_usd: float | None) -> BudgetPublic:
    """Set (or with None remove) the owner's monthly budget, notify thresholds already passed; commits."""
    budgets.set_budget(session, owner_id, monthly_usd)
    budgets.notify_budget_thresholds(session, owner_id)
    session.commit()
    return budget_status(session, owner_id)
