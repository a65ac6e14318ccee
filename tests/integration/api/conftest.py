"""An API app on a real database (SQLite file, or a fresh PostgreSQL database) with two users."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from lorapipe.api.app import create_app
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.migrate import upgrade
from lorapipe.jobs import accounts
from lorapipe.settings import Settings

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


@dataclass
class Api:
    client: TestClient
    settings: Settings
    alice: dict[str, str]
    bob: dict[str, str]


def _pg_url() -> Iterator[str]:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
    except psycopg.Error:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = "lp_api_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    if request.param == "postgres":
        gen = _pg_url()
        url = next(gen)
        request.addfinalizer(lambda: next(gen, None))
    else:
        url = f"sqlite:///{tmp_path / 'api.db'}"
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    upgrade(url)
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
