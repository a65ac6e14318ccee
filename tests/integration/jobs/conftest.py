"""Real databases for the job-service tests: the shared ``migrated_url`` fixture (tests/conftest.py)
runs each test on a SQLite file and on PostgreSQL, both at the newest Alembic revision."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

import lorapipe.db  # noqa: F401  (registers the tables)
from lorapipe.db import create_engine_for, make_sessionmaker


@pytest.fixture
def db_url(migrated_url: str) -> str:
    return migrated_url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_for(db_url, **({"pool_size": 10} if db_url.startswith("postgresql") else {}))
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
