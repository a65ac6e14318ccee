"""An API app on a real, migrated database with two users, alice and bob, each with an API key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Api
from fastapi.testclient import TestClient

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.server import create_app
from lorapipe.services import accounts
from lorapipe.settings import Settings


@pytest.fixture
def api(migrated_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on ``migrated_url`` (SQLite and PostgreSQL, from tests/conftest.py), reconciler off."""
    url = migrated_url
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    engine = create_engine_for(url)
    keys: dict[str, dict[str, str]] = {}
    with session_scope(make_sessionmaker(engine)) as s:
        for name in ("alice", "bob"):
            user = accounts.create_user(s, name)
            _, secret = accounts.create_api_key(s, user)
            keys[name] = {"Authorization": f"Bearer {secret}"}
    engine.dispose()
    app = create_app(settings, run_reconciler=False)
    with TestClient(app) as client:
        yield Api(client=client, settings=settings, alice=keys["alice"], bob=keys["bob"])
