"""``/api/costs`` and ``/api/budget``: the caller's cost lines over a date range (both ends
included), totals by type and by day, a CSV export, and the monthly budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from lorapipe.api.deps import DB, Caller
from lorapipe.api.params import PRINTABLE, BoundedDate
from lorapipe.services import budgets, cost_views
from lorapipe.services.cost_views import BudgetPublic, CostKind, CostList, CostSummaryPublic

router = APIRouter(tags=["costs"])

Start = Annotated[BoundedDate, Query(description="First day (UTC), included. Default: 1st of this month.")]
End = Annotated[BoundedDate, Query(description="Last day (UTC), included. Default: today.")]
Kind = Annotated[CostKind | None, Query(description="Only this type of cost.")]
JobFilter = Annotated[
    str | None, Query(max_length=64, pattern=PRINTABLE, description="Only this job's costs.")
]


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_usd: StrictFloat | None = Field(
        ge=0, le=budgets.MAX_MONTHLY_USD, description="USD per calendar month (UTC); null removes it."
    )


@router.get("/api/costs", summary="Your cost lines in a date range (end day included), with totals")
def get_costs(
    db: DB, user: Caller, start: Start = None, end: End = None, kind: Kind = None, job_id: JobFilter = None
) -> CostList:
    return cost_views.costs(db, user.id, start, end, kind=kind, job_id=job_id)


@router.get("/api/costs/summary", summary="Totals by type and per day (every day of the range)")
def get_cost_summary(
    db: DB, user: Caller, start: Start = None, end: End = None, kind: Kind = None
) -> CostSummaryPublic:
    return cost_views.cost_summary(db, user.id, start, end, kind=kind)


@router.get(
    "/api/costs.csv",
    summary="Your cost lines as CSV",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "A CSV file (one line per cost), not JSON."}
    },
)
def export_costs(db: DB, user: Caller, start: Start = None, end: End = None, kind: Kind = None) -> Response:
    csv = cost_views.costs_csv(db, user.id, start, end, kind=kind)
    disposition = f'attachment; filename="{csv.filename}"'
    return Response(csv.text, media_type="text/csv", headers={"content-disposition": disposition})


@router.get("/api/budget", summary="Your monthly budget and this month's spend")
def get_budget(db: DB, user: Caller) -> BudgetPublic:
    return cost_views.budget_status(db, user.id)


@router.put("/api/budget", summary="Set (or with null remove) your monthly budget")
def put_budget(db: DB, user: Caller, body: BudgetUpdate) -> BudgetPublic:
    return cost_views.set_budget(db, user.id, body.monthly_usd)
