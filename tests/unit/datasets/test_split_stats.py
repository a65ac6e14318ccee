"""Split by conversation, dedup, and the batching arithmetic behind the padding figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe.datasets.readers import iter_examples
from lorapipe.datasets.split import plan_split, split_examples
from lorapipe.datasets.stats import (
    grouped_efficiency,
    histogram,
    naive_efficiency,
    packed_efficiency,
    percentiles,
)
from lorapipe.errors import ConfigError

pytestmark = pytest.mark.unit

EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def test_split_keeps_conversations_whole_and_is_deterministic() -> None:
    examples = list(iter_examples(EQ12))
    train, val = split_examples(examples, fraction=0.2, seed=7)
    assert len(train) + len(val) == 44 and val
    assert not {e.conversation_id for e in train} & {e.conversation_id for e in val}
    assert abs(len(val) - 0.2 * 44) <= 5  # whole conversations of 3–5 examples each
    _, again_val = split_examples(list(reversed(examples)), fraction=0.2, seed=7)
    assert {e.id for e in again_val} == {e.id for e in val}  # independent of file order
    _, other_val = split_examples(examples, fraction=0.2, seed=8)
    assert {e.id for e in other_val} != {e.id for e in val}


def test_split_by_count_and_bounds() -> None:
    sizes = {f"c{i}": 1 for i in range(10)}
    assert len(plan_split(sizes, count=3, seed=0)) == 3
    assert len(plan_split(sizes, count=100, seed=0)) == 9  # one conversation always stays for training
    assert plan_split({"only": 5}, fraction=0.5) == set()
    with pytest.raises(ConfigError):
        plan_split(sizes, fraction=0.95)
    with pytest.raises(ConfigError):
        plan_split(sizes)


def test_percentiles_nearest_rank() -> None:
    p = percentiles(list(range(1, 101)))
    assert (p["min"], p["p50"], p["p90"], p["p99"], p["max"]) == (1, 50, 90, 99, 100)
    assert percentiles([])["max"] == 0


def test_histogram_counts_everything_and_shows_the_max_length_edge() -> None:
    bins = histogram([1, 10, 100, 5000], max_length=2048, bins=8)
    assert sum(b.count for b in bins) == 4 and bins[-1].hi > 5000


def test_batching_efficiencies() -> None:
    lengths = [100, 10, 100, 10]
    assert naive_efficiency(lengths, 2) == pytest.approx(220 / 400)
    assert grouped_efficiency(lengths, 2) == pytest.approx(1.0)
    assert packed_efficiency([60, 40, 50, 50], 100) == pytest.approx(1.0)
    assert packed_efficiency([60, 60], 100) == pytest.approx(0.6)
