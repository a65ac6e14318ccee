"""Schema migrations, callable from code: the installed package carries its Alembic scripts.

``upgrade(url)`` brings a database to the newest schema; the CLI, the API's start-up and the tests
all call it. ``alembic.ini`` at the repository root points at the same scripts for the ``alembic``
command line (``alembic heads``, ``alembic revision``).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from lorapipe.db.engine import create_engine_for, normalize_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x6C6F7261  # "lora": the PostgreSQL advisory lock migrations hold
BUSY_RETRIES = 5
"""How many times a migration that SQLite answered BUSY is tried again (it changed nothing)."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our scripts; ``url`` (optional) is the database to migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the newest)."""
    _run(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` removes every table)."""
    _run(url, lambda config: command.downgrade(config, revision))


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision in the scripts (there is exactly one head: the history is linear)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migration history has {len(heads)} heads {heads}; chain them into one")
    return heads[0]


@contextlib.contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    """An exclusive lock on ``<database>.migrate.lock`` while migrating a SQLite file, taken before the
    first connection: opening one already reads the file and may switch it to WAL, which concurrent
    migrators of a new file must not do at the same moment. A no-op for other databases."""
    parsed = make_url(normalize_url(url))
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        yield
        return
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".migrate.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def migration_connection(url: str) -> Iterator[Connection]:
    """A connection for migrating ``url``: one real transaction (DDL included, so a failed migration
    changes nothing) that only one migrator holds at a time, from before its first read (on SQLite a
    file lock, then ``BEGIN IMMEDIATE``; on PostgreSQL an advisory lock as the transaction's first
    statement), so API replicas and workers can all migrate at start-up."""
    with _sqlite_file_lock(url):
        engine = create_engine_for(url, sqlite_immediate=True)
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                yield conn
        finally:
            engine.dispose()


def _sqlite_busy(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and exc.orig.sqlite_errorcode == sqlite3.SQLITE_BUSY


def _run(url: str, action: Callable[[Config], object]) -> None:
    # Another process's connection (not a migrator: those wait on the lock) can still hold SQLite's
    # lock past the busy timeout; the migration rolled back whole, so it is simply tried again.
    for attempt in range(BUSY_RETRIES + 1):
        try:
            with migration_connection(url) as conn:
                config = alembic_config(url)
                config.attributes["connection"] = conn
                action(config)
            return
        except OperationalError as exc:
            if not _sqlite_busy(exc) or attempt == BUSY_RETRIES:
                raise
        time.sleep(0.1 * 2**attempt)
