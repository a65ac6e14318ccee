"""The costs page: a date range (both days included, UTC), USD per day as a bar chart, totals by type,
the cost lines, the CSV export (``/ui/costs.csv``: the same service call as ``/api/costs.csv``) and this
month's spend against the budget."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from lorapipe.errors import UserError
from lorapipe.services import cost_views
from lorapipe.services.cost_reports import COST_KINDS
from lorapipe.services.cost_views import CostKind
from lorapipe.web.cost_chart import budget_bar, day_chart
from lorapipe.web.deps import DB, PageUser
from lorapipe.web.pages import render

router = APIRouter(include_in_schema=False)

Day = Annotated[str, Query(max_length=32)]
"""A day as the date input sends it (YYYY-MM-DD), or empty: parsed here, so a bad value is a message on
the page rather than an error answer."""


def _kind(value: str) -> CostKind | None:
    """The type filter; empty (the form's "any") or unknown is every type."""
    return cast(CostKind, value) if value in COST_KINDS else None


def _day(value: str, name: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"{name} {value!r} is not a day (YYYY-MM-DD)", param=name) from None


@router.get("/ui/costs", response_class=HTMLResponse)
def costs(
    request: Request,
    db: DB,
    user: PageUser,
    start: Day = "",
    end: Day = "",
    kind: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    problem = None
    chosen = _kind(kind)
    try:
        listing = cost_views.costs(db, user.id, _day(start, "start"), _day(end, "end"), kind=chosen)
    except UserError as exc:
        problem = exc.message
        listing = cost_views.costs(db, user.id, kind=chosen)  # this month, as a fallback
    budget = cost_views.budget_status(db, user.id)
    return render(
        request,
        "costs.html",
        user,
        listing=listing,
        summary=listing.summary,
        chart=day_chart(listing.summary.by_day),
        budget=budget,
        bar=budget_bar(budget),
        kind=chosen or "",
        kinds=COST_KINDS,
        problem=problem,
    )


# A plain link cannot carry the bearer header: the export for the page's link is read-only and
# cookie-identified, like the adapter downloads; it is the same service call as ``/api/costs.csv``.
@router.get("/ui/costs.csv")
def costs_csv(
    db: DB, user: PageUser, start: Day = "", end: Day = "", kind: Annotated[str, Query(max_length=20)] = ""
) -> Response:
    chosen = _kind(kind)
    csv = cost_views.costs_csv(db, user.id, _day(start, "start"), _day(end, "end"), kind=chosen)
    disposition = f'attachment; filename="{csv.filename}"'
    return Response(csv.text, media_type="text/csv", headers={"content-disposition": disposition})
