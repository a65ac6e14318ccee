"""``/api/costs`` and ``/api/budget``: the caller's cost lines over a date range (both ends
included), totals by type and by day, a CSV export, and the monthly budget."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller
from lorapipe.api.shapes import ts
from lorapipe.db.base import utcnow
from lorapipe.db.costs import CostRecord
from lorapipe.estimate.budget import check_budget
from lorapipe.services import budgets
from lorapipe.services.cost_reports import CostSummary, DateRange, Totals, list_costs, summarize, to_csv

router = APIRouter(tags=["costs"])

Start = Annotated[dt.date | None, Query(description="First day (UTC), included. Default: 1st of this month.")]
End = Annotated[dt.date | None, Query(description="Last day (UTC), included. Default: today.")]
Kind = Annotated[Literal["compute", "storage"] | None, Query(description="Only this type of cost.")]
JobFilter = Annotated[str | None, Query(max_length=64, description="Only this job's costs.")]


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_usd: float | None = Field(
        ge=0, le=budgets.MAX_MONTHLY_USD, description="USD per calendar month (UTC); null removes it."
    )


def cost_object(row: CostRecord) -> dict[str, Any]:
    details = row.details or {}
    return {
        "id": row.id,
        "object": "cost",
        "kind": row.kind,
        "job_id": row.job_id,
        "attempt_id": row.attempt_id,
        "backend": details.get("backend"),
        "gpu_type": row.gpu_type,
        "seconds": row.seconds,
        "usd": float(row.usd),
        "usd_low": details.get("usd_low"),
        "usd_high": details.get("usd_high"),
        "price": {
            "usd": details.get("price_usd"),
            "unit": details.get("price_unit"),
            "source": row.price_source,
            "date": details.get("price_date"),
        },
        "detail": details.get("detail"),
        "estimate": details.get("estimate"),
        "created_at": ts(row.created_at),
    }


def _totals(t: Totals) -> dict[str, Any]:
    return {"usd": t.usd, "seconds": t.seconds, "count": t.count}


def summary_object(summary: CostSummary, days: DateRange) -> dict[str, Any]:
    return {
        "start": days.start.isoformat(),
        "end": days.end.isoformat(),
        "total": _totals(summary.total),
        "by_kind": {k: _totals(v) for k, v in sorted(summary.by_kind.items())},
        "by_day": [{"day": d, **_totals(v)} for d, v in summary.by_day.items()],
    }


@router.get("/api/costs", summary="Your cost lines in a date range (end day included), with totals")
def get_costs(
    db: DB, user: Caller, start: Start = None, end: End = None, kind: Kind = None, job_id: JobFilter = None
) -> dict[str, Any]:
    days = DateRange.resolve(start, end)
    rows = list_costs(db, user.id, days, kind=kind, job_id=job_id)
    return {
        "object": "list",
        "data": [cost_object(r) for r in rows],
        "summary": summary_object(summarize(rows, days), days),
    }


@router.get("/api/costs/summary", summary="Totals by type and per day (every day of the range)")
def get_cost_summary(
    db: DB, user: Caller, start: Start = None, end: End = None, kind: Kind = None
) -> dict[str, Any]:
    days = DateRange.resolve(start, end)
    return summary_object(summarize(list_costs(db, user.id, days, kind=kind), days), days)


@router.get(
    "/api/costs.csv",
    summary="Your cost lines as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_costs(db: DB, user: Caller, start: Start = None, end: End = None, kind: Kind = None) -> Response:
    days = DateRange.resolve(start, end)
    text = to_csv(list_costs(db, user.id, days, kind=kind))
    name = f"lorapipe-costs-{days.start}-{days.end}.csv"
    return Response(
        text, media_type="text/csv", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


def budget_object(db: DB, owner_id: str) -> dict[str, Any]:
    now = utcnow()
    budget = budgets.get_budget(db, owner_id)
    spent = budgets.month_spend(db, owner_id, now)
    decision = check_budget(spent, 0.0, budget)
    return {
        "object": "budget",
        "monthly_usd": budget,
        "month": budgets.month_bounds(now)[0].strftime("%Y-%m"),
        "spent_usd": spent,
        "fraction": round(decision.fraction, 4) if budget and math.isfinite(decision.fraction) else None,
        "level": decision.level,
        "new_jobs_blocked": not decision.allowed,
    }


@router.get("/api/budget", summary="Your monthly budget and this month's spend")
def get_budget(db: DB, user: Caller) -> dict[str, Any]:
    return budget_object(db, user.id)


@router.put("/api/budget", summary="Set (or with null remove) your monthly budget")
def put_budget(db: DB, user: Caller, body: BudgetUpdate) -> dict[str, Any]:
    budgets.set_budget(db, user.id, body.monthly_usd)
    budgets.notify_budget_thresholds(db, user.id)
    db.commit()
    return budget_object(db, user.id)
