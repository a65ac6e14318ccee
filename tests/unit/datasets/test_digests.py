"""The compact duplicate table answers as a dict of every digest does, in a fraction of its memory."""

from __future__ import annotations

import random
import tracemalloc

from lorapipe.datasets.digests import DigestIndex


def test_first_seen_agrees_with_a_dict_across_growth() -> None:
    rng = random.Random(3)
    seen: dict[int, int] = {}
    index = DigestIndex(capacity=8)
    pool = [0, 1, 2**64 - 1, 8, 16, 24] + [rng.getrandbits(64) for _ in range(3000)]
    for record in range(20_000):
        digest = rng.choice(pool)
        assert index.first_seen(digest, record) == seen.get(digest)
        seen.setdefault(digest, record)
    assert len(index) == len(seen)


def test_memory_per_digest_is_a_few_dozen_bytes() -> None:
    rng = random.Random(0)
    digests = [rng.getrandbits(64) for _ in range(100_000)]
    tracemalloc.start()
    try:
        index = DigestIndex()
        for record, digest in enumerate(digests):
            index.first_seen(digest, record)
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index) == 100_000
    assert now < 100_000 * 48  # a dict of these ints and records holds about 100 bytes each
