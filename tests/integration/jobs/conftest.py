"""Real databases for the job-service tests: a SQLite file and a fresh PostgreSQL database, both
migrated with the project's Alembic scripts (so the tests also prove the migrations)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

import lorapipe.jobs  # noqa: F401  (registers the tables)
from lorapipe.db import create_engine_for, make_sessionmaker
from lorapipe.db.migrate import upgrade

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return postgres_available()


@pytest.fixture
def postgres_url(pg_available: bool) -> Iterator[str]:
    if not pg_available:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = "lp_jobs_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database URL, once per database kind."""
    url = (
        f"sqlite:///{tmp_path / 'jobs.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    upgrade(url)
    return url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_for(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
