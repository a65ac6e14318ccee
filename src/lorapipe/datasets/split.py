"""Deterministic train/validation split by conversation (the engine holds out its validation set with it).

A conversation's examples always land on one side, so validation never sees a conversation the
model trained on. The choice depends only on the seed and the conversation ids, not on file order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence

from lorapipe.contract.conversation import Example
from lorapipe.errors import ConfigError


def _rank(seed: int, conversation_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{conversation_id}".encode()).digest()


def plan_split(
    sizes: Mapping[str, int], *, fraction: float | None = None, count: int | None = None, seed: int = 0
) -> set[str]:
    """The conversation ids that go to validation.

    ``sizes`` maps conversation id → number of examples. Exactly one of ``fraction`` (0–0.9 of the
    examples) or ``count`` (examples) is given; conversations are taken in seeded-hash order until the
    target is reached, and at least one conversation stays on the training side.
    """
    if (fraction is None) == (count is None):
        raise ConfigError("give exactly one of fraction or count", param="validation_split")
    total = sum(sizes.values())
    if fraction is not None:
        if not 0 <= fraction <= 0.9:
            raise ConfigError(
                f"validation fraction {fraction} is outside 0–0.9",
                param="validation_split",
                hint="use e.g. 0.1",
            )
        target = round(fraction * total)
    else:
        assert count is not None
        if count < 0:
            raise ConfigError(f"validation count {count} is negative", param="validation_split")
        target = count
    if target == 0 or len(sizes) < 2:
        return set()
    chosen: set[str] = set()
    taken = 0
    for cid in sorted(sizes, key=lambda c: _rank(seed, c)):
        if taken >= target or len(chosen) == len(sizes) - 1:
            break
        chosen.add(cid)
        taken += sizes[cid]
    return chosen


def split_examples(
    examples: Sequence[Example], *, fraction: float | None = None, count: int | None = None, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """(train, validation) in the input order, split by conversation."""
    sizes = Counter(ex.conversation_id for ex in examples)
    val_ids = plan_split(sizes, fraction=fraction, count=count, seed=seed)
    train = [ex for ex in examples if ex.conversation_id not in val_ids]
    val = [ex for ex in examples if ex.conversation_id in val_ids]
    return train, val
