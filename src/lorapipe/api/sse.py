"""Server-sent events for a job's event log: streamed from the database, resumable, finite.

Each persisted event goes out once with ``id: <seq>`` (the job's own event sequence), so a client
that reconnects with ``Last-Event-ID: <seq>`` receives exactly the events after it. The stream polls
the database (no broker: the database is the source of truth and every replica can serve any job),
sends a comment as a keep-alive while nothing happens, and ends with an ``end`` event once the job
is terminal and every event up to its last one was sent.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from lorapipe.api.params import INT4_MAX
from lorapipe.errors import UserError
from lorapipe.services.job_events import FEED_BATCH, EventFeed, event_feed
from lorapipe.services.limits import PerUserSlots

RETRY_MS = 2000
"""Reconnection delay the stream asks clients to use, in milliseconds."""


@dataclass(frozen=True)
class StreamTiming:
    """How often the stream polls the database and how long it stays silent, in seconds."""

    poll_s: float = 0.5
    keepalive_s: float = 15.0


def format_event(data: Any, *, event: str | None = None, id: int | None = None) -> bytes:
    """One SSE message. ``data`` is sent as compact JSON on a single ``data:`` line."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def resume_after(last_event_id: str | None, after: int | None) -> int:
    """The sequence number to resume after: the ``Last-Event-ID`` header wins over ``?after=``.

    Raises :class:`UserError` (400) when the header is not a non-negative integer.
    """
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 10 or int(text) > INT4_MAX:
            raise UserError(
                f"Last-Event-ID {last_event_id!r} is not an event sequence number",
                param="Last-Event-ID",
                hint="send the id of the last event you received, a non-negative integer",
            )
        return int(text)
    return after or 0


def _poll(sessions: sessionmaker[Session], job_id: str, after: int) -> EventFeed:
    with sessions() as session:
        return event_feed(session, job_id, after)


async def job_event_stream(
    sessions: sessionmaker[Session],
    job_id: str,
    after: int,
    *,
    is_disconnected: Callable[[], Awaitable[bool]],
    timing: StreamTiming = StreamTiming(),
    holder: StreamHolder | None = None,
) -> AsyncIterator[bytes]:
    """SSE bytes for ``job_id``'s events after ``after``, until the job is terminal.

    With a ``holder`` (its slot already taken by the route, so an over-limit caller got a 429), the
    stream gives the slot back when it ends and re-checks the caller's key every ``holder.recheck_s``:
    a revoked key ends the stream."""
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        last_sent = last_check = time.monotonic()
        while not await is_disconnected():
            if holder is not None and time.monotonic() - last_check >= holder.recheck_s:
                last_check = time.monotonic()
                if not await run_in_threadpool(holder.authorized):
                    yield format_event(
                        {"code": "unauthorized", "message": "the API key was revoked"}, event="error"
                    )
                    return
            feed = await run_in_threadpool(_poll, sessions, job_id, after)
            for event in feed.events:
                yield format_event(event.model_dump(mode="json"), event=event.event, id=event.seq)
                after = event.seq
            if feed.events:
                last_sent = time.monotonic()
            if len(feed.events) == FEED_BATCH:
                continue
            if feed.status.is_terminal:
                yield format_event({"status": feed.status.value, "last_seq": after}, event="end")
                return
            if time.monotonic() - last_sent >= timing.keepalive_s:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
            await anyio.sleep(timing.poll_s)
    finally:
        if holder is not None:
            holder.give_back()


@dataclass
class StreamHolder:
    """Whose stream this is: their slots, and how to tell that their key still works."""

    slots: PerUserSlots
    user_id: str
    authorized: Callable[[], bool]
    recheck_s: float = 5.0
    _taken: bool = False

    def take(self, stream: object | None = None) -> None:
        """Take a slot (:class:`RateLimitedError`, 429, when the user holds them all). With ``stream``,
        the slot is also given back if that stream is dropped without ever being started."""
        self.slots.acquire(self.user_id)
        self._taken = True
        if stream is not None:
            weakref.finalize(stream, self.give_back)

    def give_back(self) -> None:
        if self._taken:
            self._taken = False
            self.slots.release(self.user_id)
