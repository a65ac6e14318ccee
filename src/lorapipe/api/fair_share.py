"""Fair share at the door: at most ``max_requests_per_user`` requests of one user in flight at once, event
streams and uploads included, checked on the event loop before a request can take a worker thread, a
database connection or a stream. A user over it gets 429 with ``Retry-After`` in microseconds; other
users never queue behind them.

The key -> user lookup behind the count is cached for ``CACHE_S`` (one database read per key, shared by
concurrent first requests). The cache decides only whose count a request joins: every route still
authenticates the key against the database, so a revoked key is refused at once. Requests without a
key (single-user mode, or a 401 to come) pass through; counts are per service process.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lorapipe.api.errors import error_body

PREFIXES = ("/v1/", "/api/")
CACHE_S = 10.0
RETRY_AFTER_S = 5

#: The user id a full ``Authorization`` header belongs to, or None for a key that is not live; blocking.
ResolveUser = Callable[[str], str | None]


class FairShareMiddleware:
    def __init__(self, app: ASGIApp, *, max_requests_per_user: int, resolve: ResolveUser) -> None:
        self.app = app
        self.limit = max_requests_per_user
        self.resolve = resolve
        self.in_flight: Counter[str] = Counter()
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._pending: dict[str, asyncio.Future[str | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        user = await self._user(header) if header else None
        if user is None:
            await self.app(scope, receive, send)
            return
        if self.in_flight[user] >= self.limit:
            message = f"you have {self.in_flight[user]} requests in progress (at most {self.limit}) (wait for one to end)"
            body = error_body(429, "rate_limited", message, None, "capacity")
            await JSONResponse(body, status_code=429, headers={"Retry-After": str(RETRY_AFTER_S)})(
                scope, receive, send
            )
            return
        self.in_flight[user] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight[user] -= 1
                if self.in_flight[user] <= 0:
                    del self.in_flight[user]

        async def send_then_release(message: Message) -> None:
            await send(message)
            # The answer's last byte is out: the client may send its next request now, and it must not
            # find this one still counted while the app tidies up (a dependency's exit, a session close).
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()

        try:
            await self.app(scope, receive, send_then_release)
        finally:
            release()

    async def _user(self, header: str) -> str | None:
        digest = hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        pending = self._pending.get(digest)
        if pending is None:  # one lookup per key, however many of its requests arrive at once
            pending = asyncio.get_running_loop().create_future()
            self._pending[digest] = pending
            try:
                user = await anyio.to_thread.run_sync(self.resolve, header)
            except Exception:
                user = None
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (user, time.monotonic() + CACHE_S)
            del self._pending[digest]
            pending.set_result(user)
            return user
        return await pending
