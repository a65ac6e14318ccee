"""Per-user slots: one user's holdings never block another user; a global total queues, then refuses."""

from __future__ import annotations

import threading
import time

import pytest

from lorapipe.errors import RateLimitedError
from lorapipe.services.limits import PerUserSlots

pytestmark = pytest.mark.unit


def test_a_user_at_the_limit_is_refused_and_others_are_not() -> None:
    slots = PerUserSlots("uploads", per_user=2)
    slots.acquire("mallory")
    slots.acquire("mallory")
    with pytest.raises(RateLimitedError) as refused:
        slots.acquire("mallory")
    assert refused.value.http_status == 429 and refused.value.retry_after_s >= 1
    with slots.hold("alice"):
        assert slots.held("alice") == 1
    slots.release("mallory")
    slots.acquire("mallory")  # a slot given back can be taken again
    assert slots.held("mallory") == 2 and slots.held("alice") == 0


def test_the_total_queues_for_a_while_then_refuses() -> None:
    slots = PerUserSlots("token counts", per_user=1, total=1, wait_s=0.5)
    slots.acquire("alice")
    threading.Timer(0.1, slots.release, args=("alice",)).start()
    started = time.monotonic()
    slots.acquire("bob")  # waited for alice's count to end
    assert 0.05 < time.monotonic() - started < 0.5
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="busy"):
        slots.acquire("carol")
    assert time.monotonic() - started >= 0.45
