"""Monthly budgets (USD, calendar month in UTC): the check the job-create path calls, and the 80 % /
100 % notifications once booked spend reaches them. The decisions are the pure functions of
:mod:`lorapipe.estimate.budget`; this module adds the stored budget and the month's spend.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorapipe.db.base import utcnow
from lorapipe.db.costs import Budget, CostRecord
from lorapipe.errors import BudgetExceededError, UserError
from lorapipe.estimate.budget import BLOCK_AT, NOTIFY_AT, BudgetDecision, check_budget
from lorapipe.estimate.priors import Triple
from lorapipe.services.notifications import notify

MAX_MONTHLY_USD = 1_000_000.0


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Start of ``now``'s month and of the next one, in UTC."""
    now = now.astimezone(dt.UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start, following


def month_spend(session: Session, owner_id: str, now: dt.datetime | None = None) -> float:
    """USD booked for the owner in the calendar month (UTC) of ``now``."""
    start, end = month_bounds(now or utcnow())
    total = session.scalar(
        select(func.sum(CostRecord.usd)).where(
            CostRecord.owner_id == owner_id, CostRecord.created_at >= start, CostRecord.created_at < end
        )
    )
    return round(float(total or 0.0), 6)


def get_budget(session: Session, owner_id: str) -> float | None:
    """The owner's monthly budget in USD, or None when there is none."""
    row = session.get(Budget, owner_id)
    return float(row.monthly_usd) if row is not None else None


def set_budget(session: Session, owner_id: str, monthly_usd: float | None) -> float | None:
    """Set (or with None remove) the owner's monthly budget; the caller commits."""
    row = session.get(Budget, owner_id)
    if monthly_usd is None:
        if row is not None:
            session.delete(row)
        return None
    if not 0 <= monthly_usd <= MAX_MONTHLY_USD:
        raise UserError(
            f"monthly_usd={monthly_usd}: a budget is between 0 and {MAX_MONTHLY_USD:,.0f} USD",
            param="monthly_usd",
        )
    amount = Decimal(str(round(monthly_usd, 2)))
    if row is None:
        session.add(Budget(owner_id=owner_id, monthly_usd=amount))
    else:
        row.monthly_usd = amount
    session.flush()
    return float(amount)


def estimated_usd(estimate: dict[str, Any] | None, gpu: str | None, tier: str | None) -> Triple | None:
    """The job's frozen estimate for the option that actually ran (else the recommended one)."""
    if not estimate:
        return None
    options = [o for o in estimate.get("options") or [] if isinstance(o, dict) and o.get("usd")]
    rec = estimate.get("recommendation") or {}
    pick = next((o for o in options if o.get("gpu") == gpu and (tier is None or o.get("tier") == tier)), None)
    pick = pick or next(
        (o for o in options if (o.get("gpu"), o.get("tier")) == (rec.get("gpu"), rec.get("tier"))), None
    )
    usd = (pick or estimate).get("usd")
    if isinstance(usd, dict) and {"low", "mid", "high"} <= usd.keys():
        return Triple(float(usd["low"]), float(usd["mid"]), float(usd["high"]))
    return None


def check_job_budget(
    session: Session, owner_id: str, job_usd: float, *, override: bool = False, now: dt.datetime | None = None
) -> BudgetDecision:
    """Called when a job is created, with the upper end of its estimated cost in USD.

    Raises :class:`BudgetExceededError` (HTTP 402) when this month's spend plus ``job_usd`` reaches
    100 % of the budget and ``override`` is False; otherwise returns the decision (its ``level`` is
    ``notify`` from 80 %, ``override`` when the override was needed) for the caller to show."""
    decision = check_budget(
        month_spend(session, owner_id, now),
        max(0.0, job_usd),
        get_budget(session, owner_id),
        override=override,
    )
    if not decision.allowed:
        raise BudgetExceededError(
            decision.message,
            param="budget",
            hint="raise the budget (PUT /api/budget) or create the job with an explicit budget override",
        )
    return decision


def check_job_estimate(
    session: Session,
    owner_id: str,
    estimate: dict[str, Any] | None,
    *,
    gpu: str | None = None,
    tier: str | None = None,
    override: bool = False,
) -> BudgetDecision:
    """:func:`check_job_budget` with the upper end of the job's estimate (the option that will run,
    else the recommended one; $0 when the estimate has no price, e.g. the local backend)."""
    usd = estimated_usd(estimate, gpu, tier)
    return check_job_budget(session, owner_id, usd.high if usd else 0.0, override=override)


def notify_budget_thresholds(session: Session, owner_id: str, *, now: dt.datetime | None = None) -> int:
    """Notify once per month and budget amount when booked spend reaches 80 % and 100 %."""
    budget = get_budget(session, owner_id)
    if budget is None:
        return 0
    now = now or utcnow()
    spent = month_spend(session, owner_id, now)
    month = month_bounds(now)[0].strftime("%Y-%m")
    made = 0
    for share, kind in ((NOTIFY_AT, "budget.warning"), (BLOCK_AT, "budget.exceeded")):
        if spent < share * budget or (budget == 0 and spent == 0):
            continue
        pct = round(100 * share)
        row = notify(
            session,
            owner_id=owner_id,
            kind=kind,
            title=f"{pct} % of your {month} budget reached",
            body=(
                f"${spent:.2f} booked this month of a ${budget:.2f} budget"
                + ("; new jobs are blocked unless overridden" if share >= BLOCK_AT else "")
            ),
            severity="high" if share >= BLOCK_AT else "medium",
            data={"month": month, "spent_usd": spent, "budget_usd": budget, "threshold_pct": pct},
            dedupe_key=f"budget:{month}:{pct}:{budget:.2f}",
        )
        made += row is not None
    return made
