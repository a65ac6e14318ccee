"""0004: adapter names are unique per owner (two users may name adapters alike), up and down, on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from lorapipe.db import create_engine_for
from lorapipe.db.migrate import downgrade, upgrade

pytestmark = pytest.mark.integration


def _unique_columns(url: str) -> set[tuple[str, ...]]:
    engine = create_engine_for(url)
    try:
        return {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints("adapters")}
    finally:
        engine.dispose()


def test_adapter_names_unique_per_owner(database_url: str) -> None:
    upgrade(database_url, "0003_notify_costs")
    assert _unique_columns(database_url) == {("job_id",), ("name",)}
    upgrade(database_url)
    assert _unique_columns(database_url) == {("job_id",), ("owner_id", "name")}
    downgrade(database_url, "0003_notify_costs")
    assert _unique_columns(database_url) == {("job_id",), ("name",)}
