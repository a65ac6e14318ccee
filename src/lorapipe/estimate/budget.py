"""Monthly budget checks as pure functions; the service layer stores spend and notifications.

- Before a job: spent this month + the job's estimated upper cost ≥ 100 % of the budget blocks
  the job unless the caller overrides explicitly; ≥ 80 % lets it run with a notification.
- After a cost record lands: :func:`crossed_thresholds` says which notifications (80 %, 100 %) the
  new spend crossed, so each is sent once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NOTIFY_AT = 0.8
BLOCK_AT = 1.0
BudgetLevel = Literal["ok", "notify", "block", "override"]


@dataclass(frozen=True)
class BudgetDecision:
    """Whether a job may start under a monthly budget, and the message to show."""

    level: BudgetLevel
    allowed: bool
    spent_usd: float
    job_usd: float
    budget_usd: float | None
    fraction: float  # (spent + job) ÷ budget; 0 without a budget
    message: str


def check_budget(
    spent_usd: float, job_usd: float, budget_usd: float | None, *, override: bool = False
) -> BudgetDecision:
    """Decide on a job costing up to ``job_usd`` when ``spent_usd`` is already booked this month."""
    if spent_usd < 0 or job_usd < 0:
        raise ValueError("spent_usd and job_usd must be >= 0")
    if budget_usd is None:
        return BudgetDecision("ok", True, spent_usd, job_usd, None, 0.0, "no monthly budget set")
    if budget_usd <= 0:
        fraction = float("inf") if spent_usd + job_usd > 0 else 0.0
    else:
        fraction = (spent_usd + job_usd) / budget_usd
    after = (
        f"${spent_usd:.2f} spent + up to ${job_usd:.2f} for this job = {fraction:.0%} of ${budget_usd:.2f}"
    )
    if fraction >= BLOCK_AT:
        if override:
            return BudgetDecision(
                "override",
                True,
                spent_usd,
                job_usd,
                budget_usd,
                fraction,
                f"over budget, overridden: {after}",
            )
        return BudgetDecision(
            "block",
            False,
            spent_usd,
            job_usd,
            budget_usd,
            fraction,
            f"blocked: {after}; raise the budget or pass an explicit override",
        )
    if fraction >= NOTIFY_AT:
        return BudgetDecision(
            "notify", True, spent_usd, job_usd, budget_usd, fraction, f"near budget: {after}"
        )
    return BudgetDecision("ok", True, spent_usd, job_usd, budget_usd, fraction, after)


def crossed_thresholds(before_usd: float, after_usd: float, budget_usd: float | None) -> list[float]:
    """Budget shares (0.8, 1.0) that spend crossed going from ``before_usd`` to ``after_usd``."""
    if budget_usd is None or budget_usd <= 0:
        return []
    return [t for t in (NOTIFY_AT, BLOCK_AT) if before_usd < t * budget_usd <= after_usd]
