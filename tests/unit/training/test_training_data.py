"""Data handling without a model: split by conversation, batch order, padding efficiency, collation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorapipe.contract.conversation import Example, Message
from lorapipe.errors import DatasetError
from lorapipe.training.data import (
    EpochBatchOrder,
    PaddingCollator,
    length_grouped_batches,
    load_examples,
    padding_efficiency,
    split_by_conversation,
)

pytestmark = pytest.mark.unit
EQ12 = Path(__file__).resolve().parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def _examples(n: int, per_conv: int = 3) -> list[Example]:
    return [
        Example(
            id=f"e{i}",
            conversation_id=f"c{i // per_conv}",
            messages=(Message("user", f"q{i}"), Message("assistant", f"a{i}", trained=True)),
        )
        for i in range(n)
    ]


def test_split_keeps_conversations_whole_and_is_stable() -> None:
    exs = _examples(60)
    train, val = split_by_conversation(exs, 0.2, seed=7)
    assert {e.conversation_id for e in train}.isdisjoint({e.conversation_id for e in val})
    assert 9 <= len(val) <= 15 and len(train) + len(val) == 60
    again = split_by_conversation(list(reversed(exs)), 0.2, seed=7)[1]
    assert {e.id for e in again} == {e.id for e in val}  # file order does not matter
    assert split_by_conversation(exs, 0.0, seed=7) == (exs, [])


def test_split_refuses_a_single_conversation() -> None:
    with pytest.raises(DatasetError, match="2 conversations"):
        split_by_conversation(_examples(5, per_conv=5), 0.2, seed=1)


def test_batches_cover_every_example_once_and_depend_only_on_seed() -> None:
    lengths = [(i * 37) % 101 + 5 for i in range(203)]
    b1 = length_grouped_batches(lengths, 8, seed=3)
    assert sorted(i for b in b1 for i in b) == list(range(203))
    assert all(len(b) == 8 for b in b1[:-1]) and len(b1[-1]) == 203 % 8
    assert b1 == length_grouped_batches(lengths, 8, seed=3)
    assert b1 != length_grouped_batches(lengths, 8, seed=4)
    assert max(lengths[i] for i in b1[0]) == max(lengths)  # longest first: OOM shows at step 1


def test_grouping_beats_random_batches_on_eq12_like_lengths() -> None:
    lengths = [(i * 7919) % 2900 + 300 for i in range(44)]
    grouped = padding_efficiency(lengths, length_grouped_batches(lengths, 4, seed=0))
    naive = padding_efficiency(lengths, [list(range(s, min(s + 4, 44))) for s in range(0, 44, 4)])
    assert grouped >= 0.90 > naive


def test_epoch_order_changes_per_epoch_and_replays_exactly() -> None:
    order = EpochBatchOrder([5, 9, 3, 7, 2, 8, 6, 4], batch_size=2, seed=1, group=True)
    order.set_epoch(0)
    e0 = list(order)
    order.set_epoch(1)
    e1 = list(order)
    order.set_epoch(0)
    assert list(order) == e0 and sorted(e1) == sorted(e0) and len(order) == 8


def test_collator_pads_right_and_masks_padding() -> None:
    batch = PaddingCollator(pad_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_load_examples_reads_canonical_jsonl_and_brightrun(tmp_path: Path) -> None:
    exs = _examples(4)
    path = tmp_path / "canon.jsonl"
    path.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in exs))
    assert [e.id for e in load_examples(path)] == [e.id for e in exs]
    eq12 = load_examples(EQ12)
    assert len(eq12) == 44 and all(e.messages[-1].trained for e in eq12)


def test_sample_prompts_end_before_the_last_trained_reply() -> None:
    from lorapipe.training.artifacts import sample_prompts

    exs = _examples(5)
    assert sample_prompts(exs, 0) == []
    got = sample_prompts(exs, 2)
    assert [g[0] for g in got] == ["e0", "e1"]
    assert got[0][1] == [{"role": "user", "content": "q0"}] and got[0][2] == "a0"
