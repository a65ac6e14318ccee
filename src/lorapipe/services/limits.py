"""What one user may hold at once of what every user shares: upload and event-stream slots, the
token-counting child process, and active jobs. A user over a limit gets 429 with ``Retry-After``; the
others are not slowed down.

Slots are counted per service process (a replica enforces its own share); the limits are settings.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from lorapipe.errors import RateLimitedError
from lorapipe.settings import Settings


class PerUserSlots:
    """At most ``per_user`` concurrent holders per user, and (optionally) ``total`` over all users;
    ``wait_s`` is how long a caller may queue for a free slot before it is refused."""

    def __init__(self, what: str, per_user: int, *, total: int | None = None, wait_s: float = 0.0) -> None:
        self.what, self.per_user, self.total, self.wait_s = what, per_user, total, wait_s
        self._held: Counter[str] = Counter()
        self._changed = threading.Condition()

    def _free(self, user_id: str) -> bool:
        under_total = self.total is None or sum(self._held.values()) < self.total
        return self._held[user_id] < self.per_user and under_total

    def acquire(self, user_id: str) -> None:
        """Take a slot or raise :class:`RateLimitedError` (429)."""
        deadline = time.monotonic() + self.wait_s
        with self._changed:
            while not self._free(user_id):
                if self._held[user_id] >= self.per_user:
                    raise RateLimitedError(
                        f"you already have {self._held[user_id]} {self.what} in progress (at most {self.per_user})",
                        hint=f"wait for one to finish; retry after {max(1, round(self.wait_s or 5))} s",
                        retry_after_s=max(1, round(self.wait_s or 5)),
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RateLimitedError(
                        f"every {self.what} slot is busy",
                        hint="retry in a minute",
                        retry_after_s=30,
                    )
                self._changed.wait(left)
            self._held[user_id] += 1

    def release(self, user_id: str) -> None:
        with self._changed:
            self._held[user_id] -= 1
            if self._held[user_id] <= 0:
                del self._held[user_id]
            self._changed.notify_all()

    @contextmanager
    def hold(self, user_id: str) -> Iterator[None]:
        self.acquire(user_id)
        try:
            yield
        finally:
            self.release(user_id)

    def held(self, user_id: str) -> int:
        with self._changed:
            return self._held[user_id]


_registry: dict[tuple[str, int, int | None, float], PerUserSlots] = {}
_registry_lock = threading.Lock()


def slots(what: str, per_user: int, *, total: int | None = None, wait_s: float = 0.0) -> PerUserSlots:
    """The process's limiter for ``what`` with these limits (one per distinct setting, shared by every
    request of the process)."""
    key = (what, per_user, total, wait_s)
    with _registry_lock:
        if key not in _registry:
            _registry[key] = PerUserSlots(what, per_user, total=total, wait_s=wait_s)
        return _registry[key]


def upload_slots(settings: Settings) -> PerUserSlots:
    return slots("uploads", settings.max_uploads_per_user)


def stream_slots(settings: Settings) -> PerUserSlots:
    return slots("event streams", settings.max_streams_per_user)


def token_count_slots(settings: Settings) -> PerUserSlots:
    """One count per user; ``max_token_counts`` child processes in all, queued up to ``token_count_wait_s``."""
    return slots("token counts", 1, total=settings.max_token_counts, wait_s=settings.token_count_wait_s)
