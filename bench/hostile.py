"""A hostile neighbour for bench/api.py: one user who holds 40 slow uploads and 200 event streams open
(each reopened when it ends, or after the server's Retry-After when refused) while other users work. Bounded in time: it stops
when ``stop`` is set; every connection goes to the loopback server under test."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx


async def _trickle(stop: asyncio.Event) -> AsyncIterator[bytes]:
    yield b'{"messages": ['
    while not stop.is_set():
        await asyncio.sleep(0.5)
        yield b" "


async def _slow_upload(http: httpx.AsyncClient, stop: asyncio.Event, seen: Counter[str]) -> None:
    while not stop.is_set():
        try:
            r = await http.post("/api/datasets", params={"name": "hostile"}, content=_trickle(stop))
            seen[f"upload {r.status_code}"] += 1
            await _pause(r, stop)
        except httpx.HTTPError as exc:
            seen[f"upload {type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)


async def _stream(http: httpx.AsyncClient, job_id: str, stop: asyncio.Event, seen: Counter[str]) -> None:
    while not stop.is_set():
        try:
            async with http.stream("GET", f"/api/jobs/{job_id}/stream") as r:
                seen[f"stream {r.status_code}"] += 1
                async for _ in r.aiter_bytes():
                    if stop.is_set():
                        break
            await _pause(r, stop)
        except httpx.HTTPError as exc:
            seen[f"stream {type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)


async def _pause(r: httpx.Response, stop: asyncio.Event) -> None:
    """A refused request waits what the server asked (Retry-After), as any HTTP client should."""
    wait = float(r.headers.get("Retry-After", "0.5")) if r.status_code in (429, 503) else 0.5
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=wait)


async def hostile(
    base: str, key: str, job_id: str, stop: asyncio.Event, *, uploads: int = 40, streams: int = 200
) -> Counter[str]:
    """Run until ``stop``; answers how the server answered the hostile user's requests."""
    seen: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=uploads + streams + 10)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=None, limits=limits) as http:
        tasks = [asyncio.create_task(_slow_upload(http, stop, seen)) for _ in range(uploads)]
        tasks += [asyncio.create_task(_stream(http, job_id, stop, seen)) for _ in range(streams)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
    return seen


async def load_beside_hostile(
    load: Callable[..., Awaitable[tuple[list[float], int]]],
    base: str,
    identities: list[Any],
    clients: int,
    requests: int,
    hostile_key: str,
    job: str,
) -> tuple[list[float], int, Counter[str]]:
    """``load`` (bench/api.py's normal clients) while the hostile user holds its uploads and streams."""
    stop = asyncio.Event()
    neighbour = asyncio.create_task(hostile(base, hostile_key, job, stop))
    await asyncio.sleep(5)  # let the neighbour open everything it can first
    try:
        lat, errors = await load(base, identities, clients, requests, 120)
    finally:
        stop.set()
        seen = await neighbour
    return lat, errors, seen
