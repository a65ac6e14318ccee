"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (production).

``create_engine_for(url)`` is the only place an engine is built, so every process gets the same
connection settings: on SQLite WAL journaling (readers never block the writer), foreign keys
enforced, and a busy timeout instead of an immediate "database is locked".
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another writer's lock before failing, in milliseconds."""


def normalize_url(url: str) -> str:
    """Map bare ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _set_wal_journal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while SQLite answers BUSY.

    Switching a new database file to WAL takes its exclusive lock; when two connections switch it at
    the same moment, one gets "database is locked" at once: SQLite skips the busy handler there, as
    waiting could deadlock. So the wait is here, bounded by the same busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # In-memory databases answer "memory" here and keep working.
        _set_wal_journal(cursor)
        # With WAL, NORMAL is crash-safe for the database; only the last commits may be lost on power loss.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    # Stop the sqlite3 module from issuing its own BEGIN (it never does before DDL): SQLAlchemy's
    # "begin" event below issues it, so every statement, DDL included, is inside the transaction.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine_for(url: str, *, sqlite_immediate: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    For a SQLite file the parent directory is created. ``sqlite_immediate``: every transaction,
    schema changes included, is real and takes the write lock when it begins (``BEGIN IMMEDIATE``),
    so it is all-or-nothing and concurrent writers wait their turn (up to the busy timeout);
    migrations use it. Extra keyword arguments go to :func:`sqlalchemy.create_engine`.

    Errors and logs never carry statement parameters (``hide_parameters``): rows hold secrets (webhook
    signing secrets, key hashes), and a failed insert's message ends up in the service log.
    """
    kwargs.setdefault("hide_parameters", True)
    # As many connections as the web process has worker threads (40), so a burst of requests waits for
    # a thread, not for a connection; a pool timeout still answers 503 with Retry-After, never 500.
    parsed = make_url(normalize_url(url))
    if parsed.database not in (None, "", ":memory:"):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 30)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        if sqlite_immediate:
            event.listen(engine, "connect", _sqlite_driver_autocommit)
            event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


LOOP_READ_BUSY_TIMEOUT_MS = 50
"""How long a read on the event loop's own SQLite connection may wait for a lock (WAL readers
normally never wait); past it the read fails and is retried in a worker thread."""


def _sqlite_loop_reader(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")  # a write through it is an error, never a lock wait
        cursor.execute(f"PRAGMA busy_timeout={LOOP_READ_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


LOOP_READ_STATEMENT_TIMEOUT_MS = 50
"""PostgreSQL: the longest a statement on the event loop's own connection may run; past it the server
cancels it and the read is retried in a worker thread."""

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def postgres_is_local(url: str) -> bool:
    """Whether a PostgreSQL URL names a server on this host: a Unix socket (no host, or a socket
    directory) or a loopback address. A round trip there takes tens of microseconds."""
    parsed = make_url(normalize_url(url))
    host = parsed.host or str(parsed.query.get("host") or "")
    return not host or host.startswith("/") or host in LOCAL_HOSTS


def _query_values(value: str | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def create_loop_reader_for(url: str) -> Engine | None:
    """An engine for short reads on the API's event loop, where a read takes less than a trip to a
    worker thread (which waits for the GIL behind the loop under load); one connection per thread
    (``SingletonThreadPool``: the loop's own), never waiting for the shared pool.

    - A SQLite file: read-only, with a short busy timeout: a local WAL read takes microseconds and
      never waits for a writer.
    - PostgreSQL on this host (:func:`postgres_is_local`): autocommit, and the server cancels any
      statement past :data:`LOOP_READ_STATEMENT_TIMEOUT_MS` (reads never wait for row locks; a
      statement that waits anyway is retried in a thread).

    None elsewhere: a PostgreSQL across a network (its round trip, or a stall, does not belong on the
    event loop) and in-memory SQLite (a second engine would see another, empty database)."""
    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if not postgres_is_local(url):
            return None
        return create_engine(
            parsed,
            poolclass=SingletonThreadPool,
            isolation_level="AUTOCOMMIT",
            hide_parameters=True,
            connect_args={
                # After the URL's own options (a search_path, say), which these would otherwise replace.
                "options": " ".join(
                    [
                        *_query_values(parsed.query.get("options")),
                        f"-c statement_timeout={LOOP_READ_STATEMENT_TIMEOUT_MS}",
                        "-c default_transaction_read_only=on",  # a write through it is an error
                    ]
                ),
                "connect_timeout": 2,
            },
        )
    if backend != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):
        return None
    engine = create_engine(parsed, poolclass=SingletonThreadPool, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "connect", _sqlite_loop_reader)
    return engine


def create_reader_for(url: str, pool_size: int) -> Engine | None:
    """For PostgreSQL: an engine for the API's short reads in worker threads, ``pool_size``
    connections in autocommit (a read is one round trip: no BEGIN, no ROLLBACK when the connection goes
    back) and without the pre-ping round trip on checkout: a read that finds its connection dead is
    retried on a new one (:class:`lorapipe.api.deps.Call`). The reads of a server on this host run on
    the event loop first (:func:`create_loop_reader_for`); these threads take what that gives back.
    None for SQLite."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "postgresql":
        return None
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        hide_parameters=True,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``. Objects stay readable after commit (``expire_on_commit=False``),
    which services rely on when they return rows to the API layer."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
