"""The costs page's pictures as SVG geometry computed on the server: one bar per day (USD) and the
budget bar. Attributes only (no ``style``): the pages' Content-Security-Policy allows no inline CSS."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lorapipe.services.cost_views import BudgetPublic, DayTotals

WIDTH = 720
HEIGHT = 220
LEFT = 56  # room for the USD axis labels
BOTTOM = 24  # room for the day labels
TOP = 10
MAX_DAY_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    usd: float
    label: str | None  # the day under the bar, on a few bars only


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayChart:
    width: int
    height: int
    left: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    total_usd: float


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (an axis that reads easily)."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in (1, 2, 2.5, 5, 10) if step * scale >= value * (1 - 1e-9))


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def day_chart(days: list[DayTotals]) -> DayChart:
    """Bars of USD per day over ``days`` (every day of the range, zero days included)."""
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - TOP - BOTTOM
    baseline = float(TOP + plot_h)
    top = _nice_top(max((d.usd for d in days), default=0.0))
    slot = plot_w / max(len(days), 1)
    every = max(1, -(-len(days) // MAX_DAY_LABELS))
    bars = []
    for i, d in enumerate(days):
        h = plot_h * d.usd / top
        if d.usd > 0:
            h = max(h, 1.5)  # a cost too small to see still shows
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.12, 2),
                y=round(baseline - h, 2),
                width=round(max(slot * 0.76, 1.0), 2),
                height=round(h, 2),
                day=d.day,
                usd=d.usd,
                label=d.day[5:] if i % every == 0 else None,
            )
        )
    ticks = [Tick(y=round(baseline - plot_h * f, 2), label=_usd(top * f)) for f in (0, 0.5, 1)]
    return DayChart(WIDTH, HEIGHT, LEFT, baseline, bars, ticks, round(sum(d.usd for d in days), 6))


@dataclass(frozen=True)
class BudgetBar:
    width: int
    spent_width: float
    warn_x: float
    level: str


def budget_bar(budget: BudgetPublic, width: int = 600) -> BudgetBar | None:
    """The month's spend against the budget (capped at the bar's end), with the 80 % mark; None
    without a budget."""
    if budget.monthly_usd is None:
        return None
    fraction = budget.fraction if budget.fraction is not None else (1.0 if budget.spent_usd > 0 else 0.0)
    return BudgetBar(
        width=width,
        spent_width=round(width * min(max(fraction, 0.0), 1.0), 2),
        warn_x=round(width * 0.8, 2),
        level=budget.level,
    )
