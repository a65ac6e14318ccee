"""Streaming length statistics equal the list-based ones exactly, in memory that does not grow."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from lorapipe.datasets import stats
from lorapipe.datasets.length_stats import LengthStats


def _streamed(lengths: list[int], batch_size: int, max_length: int) -> LengthStats:
    out = LengthStats(batch_size, max_length)
    for n in lengths:
        out.add(n)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_streamed_statistics_equal_the_list_of_every_length(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.choice([0, 1, 2, 7, 8, 9, 511, 512, 513, 3000, 9000])
    batch_size, max_length = rng.choice([1, 3, 8, 16]), rng.choice([16, 300, 2048])
    lengths = [rng.choice([rng.randint(1, 40), rng.randint(1, 4000), 17]) for _ in range(count)]
    got = _streamed(lengths, batch_size, max_length)
    assert got.percentiles() == stats.percentiles(lengths)
    assert got.histogram() == stats.histogram(lengths, max_length)
    assert got.padding() == stats.padding_stats([min(n, max_length) for n in lengths], batch_size, max_length)
    assert got.sum == sum(lengths) and got.n == count
    assert got.mean() == (round(sum(lengths) / count, 1) if count else 0.0)


def test_memory_does_not_grow_with_the_number_of_examples() -> None:
    """Per-example state is a count per distinct length and one open grouping window."""
    rng = random.Random(0)
    tracemalloc.start()
    try:
        got = LengthStats(8, 2048)
        for _ in range(20_000):
            got.add(rng.randint(1, 3000))
        _, first = tracemalloc.get_traced_memory()
        for _ in range(200_000):
            got.add(rng.randint(1, 3000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(got.counts) <= 3000 and len(got._window) < 8 * stats.GROUP_WINDOW
    # Ten times the examples: a list of every length would add ~1.6 MB (8-byte pointers) here.
    assert peak - first < 200_000
    assert got.percentiles()["max"] <= 3000 and got.n == 220_000
