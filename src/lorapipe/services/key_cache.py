"""A short-lived cache of API key -> user for the request path, that a revocation empties at once.

:func:`~lorapipe.services.accounts.authenticate` reads the key and its user (and records ``last_used_at``
once a minute); this cache keeps its answer for a live key for at most ``ttl_s``, tagged with the
revocation generation read with it (:class:`~lorapipe.db.accounts.AuthGeneration`). Every request reads
the generation again (one primary-key read, in the request's own transaction) and trusts an entry only
under the same number. Revoking a key or disabling a user moves the generation on in its own transaction,
so once that commits, the next request in any process (another worker, or after ``lorapipe keys revoke``
from the CLI) misses and authenticates against the database: a revoked key is a 401 at once. The TTL is
a backstop, and it bounds how stale ``last_used_at`` gets.

Only live keys are cached (a refused key is checked against the database each time); the key itself is
never kept, only its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from lorapipe.db.accounts import User
from lorapipe.services.accounts import auth_generation, authenticate

TTL_S = 30.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class CachedKey:
    """A live key's user as cached, trusted only under ``generation`` (see :meth:`KeyCache.lookup`)."""

    user_id: str
    name: str
    generation: int
    expires: float

    def user(self) -> User:
        # A fresh transient row each time: requests never share one ORM object across threads.
        return User(id=self.user_id, name=self.name)


class KeyCache:
    """Live key digests -> their user, for at most ``ttl_s`` and only under one revocation generation.
    Thread-safe (the request threads share it)."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, CachedKey] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, authorization: str, single_user_id: str | None = None) -> CachedKey | None:
        """The young cache entry of this key, without reading the database: the caller must read the
        revocation generation (in the same snapshot as what it reads for the user, see
        :func:`lorapipe.db.accounts.auth_generation_column`) and trust the entry only when it is
        ``entry.generation``."""
        entry = self._entries.get(_digest(authorization, single_user_id))
        if entry is None or entry.expires <= time.monotonic():
            return None
        return entry

    def cached(self, session: Session, authorization: str, single_user_id: str | None = None) -> User | None:
        """The user of a cached live key, or None (not cached, too old, or the revocation generation
        moved since); reads only the generation, so it never writes."""
        generation = auth_generation(session)
        entry = self.lookup(authorization, single_user_id)
        if entry is None or generation is None or entry.generation != generation:
            return None
        return entry.user()

    def authenticate(self, session: Session, authorization: str, single_user_id: str | None = None) -> User:
        """:func:`~lorapipe.services.accounts.authenticate`, answered from the cache while the entry is
        young and the revocation generation has not moved."""
        # The generation is read BEFORE the key: an entry is never tagged with a generation newer than
        # the key state it saw, so a revocation committed in between still empties it.
        generation = auth_generation(session)
        digest = _digest(authorization, single_user_id)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if (
            entry is not None
            and generation is not None
            and entry.generation == generation
            and entry.expires > now
        ):
            return entry.user()
        user = authenticate(session, authorization, single_user_id)
        if generation is not None:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[digest] = CachedKey(user.id, user.name, generation, now + self.ttl_s)
        return user


def _digest(authorization: str, single_user_id: str | None) -> str:
    # Single-user mode answers a request without a key: its entry is that mode's, not another app's.
    return hashlib.sha256(f"{single_user_id}\n{authorization}".encode("utf-8", "replace")).hexdigest()
