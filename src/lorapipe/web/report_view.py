"""Geometry for the report's token-length histogram, drawn as an inline SVG by the template."""

from __future__ import annotations

from dataclasses import dataclass

from lorapipe.datasets.report import HistogramBin

WIDTH = 600
"""SVG user units across the plot."""
HEIGHT = 160
"""SVG user units of the tallest bar."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


def histogram_bars(bins: list[HistogramBin]) -> list[Bar]:
    """One bar per bin, scaled so the fullest bin reaches :data:`HEIGHT`; empty bins get no height."""
    if not bins:
        return []
    top = max(b.count for b in bins) or 1
    width = WIDTH / len(bins)
    bars = []
    for i, b in enumerate(bins):
        height = HEIGHT * b.count / top
        bars.append(
            Bar(
                x=round(i * width + 1, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(width - 2, 1), 2),
                height=round(height, 2),
                label=f"{b.lo}–{b.hi} tokens",
                count=b.count,
            )
        )
    return bars
