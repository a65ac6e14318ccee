"""Request dependencies of the API: the service context, a database session per request, the caller
(from the bearer API key), and :class:`Call`, the path of the hot routes.

Every sync dependency and every sync route costs a trip to a worker thread, and under load each trip
waits for the GIL behind the event loop. So the context is an ``async`` dependency (no trip), and the
routes that clients poll (``/v1``, the native job reads) take a :class:`Call`: authentication (through
the key cache), the route's queries and the JSON encoding in one go (a cached key's short read on the
event loop where the database is local; otherwise in ONE worker thread, on one session), and the answer
goes out as bytes (FastAPI neither re-validates nor re-encodes it). The other routes keep ``DB`` +
``Caller``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request, Response
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db.accounts import User
from lorapipe.services.context import AppState
from lorapipe.services.key_cache import CachedKey
from lorapipe.services.row_read import RowRead

log = logging.getLogger(__name__)


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.lorapipe
    return state


def db_session(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Session]:
    session = state.sessions()
    try:
        yield session
    finally:
        session.close()


def current_user(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    session: Annotated[Session, Depends(db_session)],
) -> User:
    """The owner of the bearer key (see :class:`lorapipe.services.key_cache.KeyCache`)."""
    return state.keys.authenticate(session, request.headers.get("authorization", ""), state.single_user_id)


State = Annotated[AppState, Depends(app_state)]
DB = Annotated[Session, Depends(db_session)]
Caller = Annotated[User, Depends(current_user)]

#: A route's work: given the request's session and its authenticated user, the answer.
Work = Callable[[Session, User], BaseModel | dict[str, Any] | list[Any]]


class JSONBytes(Response):
    media_type = "application/json"


class Call:
    """One request of a hot route: its work done in one go, never spread over several threads.

    ``read=True`` (a short, read-only query) with the key in the key cache (the cache's generation read
    is the only extra query): on the event loop itself, through the loop's own read-only connection,
    for SQLite and for a PostgreSQL on this host (a local read takes less than a trip to a thread,
    which under load waits for the GIL behind the loop; see
    :func:`lorapipe.db.engine.create_loop_reader_for`); on a PostgreSQL elsewhere in a worker thread
    on an autocommit connection (a read is one round trip). Everything else (writes, a key to
    authenticate, a read that met a lock or its time limit) in one worker thread on one session. The
    threads are the app's own small pool, so uploads and other long requests in the default pool never
    hold these up.
    """

    def __init__(self, request: Request) -> None:
        self.state: AppState = request.app.state.lorapipe
        self.authorization = request.headers.get("authorization", "")

    async def row(self, read: RowRead, fallback: Work) -> Response:
        """The hottest reads, without a session: ``read``'s statement (the revocation generation as
        its first column; ``owner_id`` bound to the cached key's user) run once, and its answer of the
        first row encoded. A cached key makes it ONE statement in all (no session, no ORM, no second
        query for the generation): on the event loop for SQLite and a PostgreSQL on this host, else
        (or when that did not finish in its short limit) one round trip in a worker thread. Anything
        else (the key not cached, the generation moved, no row) answers as ``json(fallback,
        read=True)``, which authenticates against the database and raises the route's own errors."""
        state = self.state
        entry = state.keys.lookup(self.authorization, state.single_user_id)
        body = None
        if entry is not None:
            answered = False
            if state.loop_reader is not None:
                try:
                    body, answered = _row_body(read, state.loop_reader, entry), True
                except OperationalError as exc:  # a lock or a timeout past the loop's short limit
                    log.info("a read on the event loop did not finish, retried in a thread: %s", exc.orig)
            if not answered and state.reader is not None:
                body = await anyio.to_thread.run_sync(
                    _once_more_if_dead, _row_body, read, state.reader, entry, limiter=_limiter(state)
                )
        if body is None:
            return await self.json(fallback, read=True)
        return JSONBytes(body)

    async def json(self, work: Work, *, status_code: int = 200, read: bool = False) -> Response:
        """Authenticate, run ``work`` and encode its answer to JSON bytes; errors raised there are
        answered by the app's error handlers as usual. ``read``: ``work`` only reads, briefly."""
        state = self.state
        body = None
        if read and state.loop_sessions is not None:
            body = self._on_loop(work, state.loop_sessions)
        if body is None:
            body = await anyio.to_thread.run_sync(self._in_thread, work, read, limiter=_limiter(state))
        return JSONBytes(body, status_code=status_code)

    def _on_loop(self, work: Work, sessions: sessionmaker[Session]) -> bytes | None:
        """The answer read on the event loop (SQLite, or a PostgreSQL on this host), or None: the key
        is not cached, or the read met a lock or its time limit, or the connection was gone (then the
        thread does it all again)."""
        try:
            return self._cached_read(work, sessions)
        except OperationalError as exc:  # a lock or a timeout past the loop's short limit
            log.info("a read on the event loop did not finish, retried in a thread: %s", exc.orig)
            return None

    def _in_thread(self, work: Work, read: bool) -> bytes:
        state = self.state
        if read and state.read_sessions is not None:
            body = self._reader_read(work, state.read_sessions)
            if body is not None:
                return body
        with state.sessions() as session:
            user = state.keys.authenticate(session, self.authorization, state.single_user_id)
            return _encode(work(session, user))

    def _reader_read(self, work: Work, sessions: sessionmaker[Session]) -> bytes | None:
        """PostgreSQL: the answer read in autocommit, or None when the key is not cached (see
        :func:`_once_more_if_dead`)."""
        return _once_more_if_dead(self._cached_read, work, sessions)

    def _cached_read(self, work: Work, sessions: sessionmaker[Session]) -> bytes | None:
        state = self.state
        with sessions() as session:
            user = state.keys.cached(session, self.authorization, state.single_user_id)
            return None if user is None else _encode(work(session, user))


def _row_body(read: RowRead, engine: Any, entry: CachedKey) -> bytes | None:
    answer = read.run(engine, entry.user_id, entry.generation)
    return None if answer is None else _encode(answer)


def _once_more_if_dead(read: Callable[..., bytes | None], *args: Any) -> bytes | None:
    """``read(*args)`` on the PostgreSQL reader, whose pool has no pre-ping: a read that found its
    connection dead (the server restarted) runs once more, on a new one."""
    try:
        return read(*args)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.info("a read found its connection closed; retried on a new one: %s", exc.orig)
        return read(*args)


def _encode(answer: BaseModel | dict[str, Any] | list[Any]) -> bytes:
    if isinstance(answer, BaseModel):
        return type(answer).__pydantic_serializer__.to_json(answer)
    return to_json(answer)


def _limiter(state: AppState) -> anyio.CapacityLimiter:
    """The app's pool for :class:`Call` work: ``api_threads`` threads (made on first use, inside the
    event loop, as anyio requires)."""
    if state.request_limiter is None:
        state.request_limiter = anyio.CapacityLimiter(state.settings.api_threads)
    return state.request_limiter


async def _call(request: Request) -> Call:
    return Call(request)


Hot = Annotated[Call, Depends(_call)]
