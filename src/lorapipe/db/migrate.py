"""Schema migrations, callable from code: the installed package carries its Alembic scripts.

``upgrade(url)`` brings a database to the newest schema; the CLI, the API's start-up and the tests
all call it. ``alembic.ini`` at the repository root points at the same scripts for the ``alembic``
command line (``alembic heads``, ``alembic revision``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from lorapipe.db.engine import create_engine_for

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x6C6F7261  # "lora": the PostgreSQL advisory lock migrations hold


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
def migration_connection(url: str) -> Iterator[Connection]:
    """A connection for migrating ``url``: one real transaction (DDL included, so a failed migration
    changes nothing) that only one migrator holds at a time (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL
    advisory lock), so API replicas and workers can all migrate at start-up."""
    engine = create_engine_for(url, sqlite_immediate=True)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            yield conn
    finally:
        engine.dispose()


def _run(url: str, action: Callable[[Config], object]) -> None:
    with migration_connection(url) as conn:
        config = alembic_config(url)
        config.attributes["connection"] = conn
        action(config)
