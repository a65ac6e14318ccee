"""Length statistics and batching efficiency from per-example token counts (pure arithmetic)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lorapipe.datasets.report import HistogramBin, PaddingStats

PERCENTILES = (50, 90, 95, 99)
GROUP_WINDOW = 64
"""Length-grouped batching sorts within windows of this many batches (keeps some randomness)."""


def percentiles(lengths: Sequence[int]) -> dict[str, int]:
    """min, p50, p90, p95, p99, max by the nearest-rank method; empty input gives zeros."""
    if not lengths:
        return {"min": 0, **{f"p{p}": 0 for p in PERCENTILES}, "max": 0}
    s = sorted(lengths)
    out = {"min": s[0]}
    for p in PERCENTILES:
        out[f"p{p}"] = s[max(0, math.ceil(p / 100 * len(s)) - 1)]
    out["max"] = s[-1]
    return out


def histogram(lengths: Sequence[int], max_length: int, bins: int = 16) -> list[HistogramBin]:
    """Equal-width bins up to max(longest, max_length), so the max_length edge is visible."""
    if not lengths:
        return []
    top = max(max(lengths), max_length)
    width = max(1, math.ceil((top + 1) / bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(n // width, bins - 1)] += 1
    return [HistogramBin(lo=i * width, hi=(i + 1) * width, count=c) for i, c in enumerate(counts)]


def _padded_efficiency(batches: list[list[int]]) -> float:
    real = sum(sum(b) for b in batches)
    padded = sum(len(b) * max(b) for b in batches if b)
    return real / padded if padded else 1.0


def naive_efficiency(lengths: Sequence[int], batch_size: int) -> float:
    return _padded_efficiency([list(lengths[i : i + batch_size]) for i in range(0, len(lengths), batch_size)])


def grouped_efficiency(lengths: Sequence[int], batch_size: int) -> float:
    """Sort by length inside windows of ``GROUP_WINDOW`` batches, then batch in order."""
    window = batch_size * GROUP_WINDOW
    batches: list[list[int]] = []
    for start in range(0, len(lengths), window):
        chunk = sorted(lengths[start : start + window])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return _padded_efficiency(batches)


def packed_efficiency(lengths: Sequence[int], max_length: int) -> float:
    """First-fit decreasing into rows of ``max_length`` tokens; real tokens / (rows × max_length)."""
    if not lengths:
        return 1.0
    free: list[int] = []  # remaining room of each open row
    closed_waste = 0
    for n in sorted((min(n, max_length) for n in lengths), reverse=True):
        for i, room in enumerate(free):
            if room >= n:
                free[i] -= n
                break
        else:
            free.append(max_length - n)
        if len(free) > 4096:  # bound the O(rows) scan on huge datasets: close the fullest rows
            free.sort()
            closed_waste += sum(free[:2048])
            free = free[2048:]
    real = sum(min(n, max_length) for n in lengths)
    return real / (real + closed_waste + sum(free))


def padding_stats(lengths: Sequence[int], batch_size: int, max_length: int) -> PaddingStats:
    return PaddingStats(
        batch_size=batch_size,
        max_length=max_length,
        naive=round(naive_efficiency(lengths, batch_size), 4),
        length_grouped=round(grouped_efficiency(lengths, batch_size), 4),
        packed=round(packed_efficiency(lengths, max_length), 4),
    )
