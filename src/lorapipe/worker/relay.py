"""Compact progress for RunPod: RunPod keeps only the latest ``progress_update`` payload, so each one
repeats every lifecycle event (bounded) and the latest metrics; the service de-duplicates by ``seq``."""

from __future__ import annotations

import collections
import time
from typing import Any

from lorapipe.contract.serverless import LIFECYCLE_EVENTS, RECENT_METRICS, ServerlessProgress


class ProgressRelay:
    """Collects engine events and says when a progress update is due (at most every ``interval_s``,
    and at once for a lifecycle event)."""

    def __init__(self, attempt_id: str, interval_s: float, clock: Any = time.monotonic) -> None:
        self.attempt_id = attempt_id
        self.interval_s = interval_s
        self.clock = clock
        self.seq = 0
        self.lifecycle: collections.deque[dict[str, Any]] = collections.deque(maxlen=LIFECYCLE_EVENTS)
        self.metrics: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_METRICS)
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self._sent_at: float | None = None
        self._urgent = False
        self._dirty = False

    def add(self, event: dict[str, Any]) -> None:
        seq = event.get("seq")
        if not isinstance(seq, int) or seq <= self.seq:
            return  # a repeated or malformed line: the engine's seq strictly increases
        self.seq = seq
        self._dirty = True
        if event.get("type") == "metrics":
            self.metrics.append(event)
            return
        self.lifecycle.append(event)
        self._urgent = True
        if event.get("type") == "result":
            self.result = event
        elif event.get("type") == "error":
            self.error = event

    def due(self) -> bool:
        if not self._dirty:
            return False
        now = self.clock()
        return self._urgent or self._sent_at is None or now - self._sent_at >= self.interval_s

    def events(self) -> list[dict[str, Any]]:
        return sorted([*self.lifecycle, *self.metrics], key=lambda e: int(e["seq"]))

    def payload(self) -> ServerlessProgress:
        """The update to send now (marks it sent)."""
        self._sent_at, self._urgent, self._dirty = self.clock(), False, False
        return ServerlessProgress(attempt_id=self.attempt_id, seq=self.seq, events=self.events())
