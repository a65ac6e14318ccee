"""Example-length statistics gathered one example at a time, in memory that does not grow with the file.

Gives exactly what :mod:`lorapipe.datasets.stats` computes from the list of every length (same
percentiles, histogram, mean and padding efficiencies, to the last digit), without keeping that list:

- lengths are kept as a count per distinct length. Percentiles, the histogram and packing need only
  the multiset, so they stay exact. Its size is bounded by the data, not the file: k distinct lengths
  take at least k(k+1)/2 tokens, so a 1 GB file (~250M tokens) has at most ~22k of them (~2 MB);
- naive batching needs the lengths in file order a batch at a time, length-grouped batching a window
  of ``batch_size × GROUP_WINDOW`` lengths at a time; both keep running sums of real and padded tokens.
"""

from __future__ import annotations

import math
from collections import Counter

from lorapipe.datasets.report import HistogramBin, PaddingStats
from lorapipe.datasets.stats import GROUP_WINDOW, PERCENTILES


class _PaddedSums:
    """Real and padded tokens of batches, added one batch at a time."""

    def __init__(self) -> None:
        self.real = self.padded = 0

    def add(self, batch: list[int]) -> None:
        if batch:
            self.real += sum(batch)
            self.padded += len(batch) * max(batch)

    def efficiency(self) -> float:
        return self.real / self.padded if self.padded else 1.0


class LengthStats:
    """Lengths in tokens (before truncation) of the examples, fed in file order with :meth:`add`.

    ``batch_size`` and ``max_length`` are the batching the padding figures describe; lengths are
    clipped to ``max_length`` for them, as truncation does.
    """

    def __init__(self, batch_size: int, max_length: int) -> None:
        self.batch_size, self.max_length = batch_size, max_length
        self.counts: Counter[int] = Counter()
        self.n = self.sum = 0
        self._naive, self._grouped = _PaddedSums(), _PaddedSums()
        self._batch: list[int] = []
        self._window: list[int] = []

    def add(self, length: int) -> None:
        self.counts[length] += 1
        self.n += 1
        self.sum += length
        clipped = min(length, self.max_length)
        self._batch.append(clipped)
        if len(self._batch) == self.batch_size:
            self._naive.add(self._batch)
            self._batch = []
        self._window.append(clipped)
        if len(self._window) == self.batch_size * GROUP_WINDOW:
            self._close_window()

    def _close_window(self) -> None:
        chunk = sorted(self._window)
        for i in range(0, len(chunk), self.batch_size):
            self._grouped.add(chunk[i : i + self.batch_size])
        self._window = []

    def percentiles(self) -> dict[str, int]:
        """min, p50, p90, p95, p99, max by the nearest-rank method; no examples gives zeros."""
        if not self.n:
            return {"min": 0, **{f"p{p}": 0 for p in PERCENTILES}, "max": 0}
        ascending = iter(sorted(self.counts.items()))
        length, seen = next(ascending)
        out = {"min": length}
        for p in PERCENTILES:  # ascending, so each rank is at or after the previous one
            rank = max(0, math.ceil(p / 100 * self.n) - 1)
            while seen <= rank:
                length, count = next(ascending)
                seen += count
            out[f"p{p}"] = length
        out["max"] = max(self.counts)
        return out

    def mean(self) -> float:
        return round(self.sum / self.n, 1) if self.n else 0.0

    def histogram(self, bins: int = 16) -> list[HistogramBin]:
        """Equal-width bins up to max(longest, max_length), so the max_length edge is visible."""
        if not self.n:
            return []
        top = max(max(self.counts), self.max_length)
        width = max(1, math.ceil((top + 1) / bins))
        counts = [0] * bins
        for length, count in self.counts.items():
            counts[min(length // width, bins - 1)] += count
        return [HistogramBin(lo=i * width, hi=(i + 1) * width, count=c) for i, c in enumerate(counts)]

    def packed_efficiency(self) -> float:
        """First-fit decreasing into rows of ``max_length`` tokens, as :func:`.stats.packed_efficiency`."""
        if not self.n:
            return 1.0
        clipped: Counter[int] = Counter()
        for length, count in self.counts.items():
            clipped[min(length, self.max_length)] += count
        free: list[int] = []  # remaining room of each open row
        closed_waste = 0
        for n, count in sorted(clipped.items(), reverse=True):
            for _ in range(count):
                for i, room in enumerate(free):
                    if room >= n:
                        free[i] -= n
                        break
                else:
                    free.append(self.max_length - n)
                if len(free) > 4096:  # the same bound on the row scan as the list version
                    free.sort()
                    closed_waste += sum(free[:2048])
                    free = free[2048:]
        real = sum(n * c for n, c in clipped.items())
        return real / (real + closed_waste + sum(free))

    def padding(self) -> PaddingStats:
        naive, grouped = _PaddedSums(), _PaddedSums()
        naive.real, naive.padded = self._naive.real, self._naive.padded
        naive.add(self._batch)  # the last, partial batch (kept open: more examples may come)
        grouped.real, grouped.padded = self._grouped.real, self._grouped.padded
        chunk = sorted(self._window)
        for i in range(0, len(chunk), self.batch_size):
            grouped.add(chunk[i : i + self.batch_size])
        return PaddingStats(
            batch_size=self.batch_size,
            max_length=self.max_length,
            naive=round(naive.efficiency(), 4),
            length_grouped=round(grouped.efficiency(), 4),
            packed=round(self.packed_efficiency(), 4),
        )
