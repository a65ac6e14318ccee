"""The schema on real SQLite and PostgreSQL: migrations, constraints, types, engine settings."""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db import Base, create_engine_for, session_scope
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.db.migrate import MIGRATIONS_DIR, current_revision, downgrade, head_revision, upgrade
from lorapipe.errors import InvalidTransitionError

pytestmark = pytest.mark.integration


def _dataset(**overrides: object) -> Dataset:
    values: dict[str, object] = {"owner_id": "user_1", "name": "demo", "sha256": "a" * 64}
    values.update(overrides)
    return Dataset(**values)


def _table_modules() -> tuple[str, ...]:
    """``TABLE_MODULES`` of the Alembic env (read, not imported: importing it runs migrations)."""
    tree = ast.parse((MIGRATIONS_DIR / "env.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "TABLE_MODULES":
            assert node.value is not None
            modules: tuple[str, ...] = ast.literal_eval(node.value)
            return modules
    raise AssertionError("env.py has no TABLE_MODULES")


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert current_revision(database_url) is None

    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    engine = create_engine_for(database_url)
    try:
        assert "datasets" in inspect(engine).get_table_names()
        downgrade(database_url, "base")
        assert current_revision(database_url) is None
        assert "datasets" not in inspect(engine).get_table_names()
        upgrade(database_url)
        assert current_revision(database_url) == head_revision()
    finally:
        engine.dispose()


def test_migrations_match_the_models(engine: Engine) -> None:
    """Every table the ORM declares is created by the migrations, column for column."""
    for module in _table_modules():
        importlib.import_module(module)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_status_check_constraint(session: Session) -> None:
    session.add(_dataset(status="bogus"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_one_live_dataset_per_owner_and_content(session: Session) -> None:
    session.add(_dataset())
    session.commit()

    session.add(_dataset(name="same bytes again"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()

    session.add(_dataset(owner_id="user_2"))  # another owner may hold the same bytes
    session.add(_dataset(deleted_at=dt.datetime.now(dt.UTC)))  # so may a deleted dataset
    session.add(_dataset(sha256=None))  # bytes still arriving
    session.add(_dataset(sha256=None))
    session.commit()
    assert session.scalar(select(Dataset.id).where(Dataset.owner_id == "user_1").limit(10)) is not None
    assert len(session.scalars(select(Dataset)).all()) == 5


def test_timestamps_are_utc_aware_and_json_round_trips(session_factory: sessionmaker[Session]) -> None:
    local = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    stats = {"examples": 44, "tokens": {"p50": 812}, "text": "ünïcode ✓"}
    with session_scope(session_factory) as s:
        row = _dataset(statistics=stats, deleted_at=local)
        s.add(row)
    dataset_id = row.id  # assigned at flush; readable after commit (expire_on_commit=False)

    with session_factory() as s:
        loaded = s.get(Dataset, dataset_id)
        assert loaded is not None
        assert loaded.statistics == stats
        assert loaded.deleted_at == local
        assert loaded.deleted_at is not None and loaded.deleted_at.utcoffset() == dt.timedelta(0)
        assert loaded.created_at.tzinfo is not None
        assert loaded.status == DatasetStatus.UPLOADING
        assert loaded.id.startswith("ds_")


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(_dataset(deleted_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.commit()


def test_session_scope_rolls_back_on_error(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), session_scope(session_factory) as s:
        s.add(_dataset())
        s.flush()
        raise RuntimeError("boom")

    with session_factory() as s:
        assert s.scalars(select(Dataset)).all() == []


def test_status_transitions() -> None:
    row = _dataset(id="ds_x", status=DatasetStatus.UPLOADING)
    row.move_to(DatasetStatus.VALIDATING)
    row.move_to(DatasetStatus.READY)
    with pytest.raises(InvalidTransitionError):
        row.move_to(DatasetStatus.ERROR)
    with pytest.raises(InvalidTransitionError):
        _dataset(id="ds_y", status=DatasetStatus.UPLOADING).move_to(DatasetStatus.READY)


def test_sqlite_engine_settings(tmp_path: object) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path}/nested/dir/x.db")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    finally:
        engine.dispose()


def test_bare_postgresql_urls_use_psycopg() -> None:
    engine = create_engine_for("postgresql://nobody@127.0.0.1:1/none")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_concurrent_upgrades_of_one_database_both_succeed(database_url: str) -> None:
    """API replicas and workers all migrate on start-up; they must not trip over each other."""
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def migrate() -> None:
        start.wait()  # all three open the new database at the same moment
        try:
            upgrade(database_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert current_revision(database_url) == head_revision()


def test_first_connections_to_a_new_sqlite_file_never_see_database_is_locked(tmp_path: Path) -> None:
    """Every connection switches the file to WAL on connect; when several switch a new file at the
    same moment SQLite answers BUSY at once, without waiting out the busy timeout."""
    errors: list[BaseException] = []
    for round_ in range(100):
        engines = [create_engine_for(f"sqlite:///{tmp_path / f'{round_}.db'}") for _ in range(4)]
        start = threading.Barrier(len(engines))

        def connect(engine: Engine, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=connect, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for engine in engines:
            engine.dispose()
    assert errors == []


def test_a_failed_upgrade_changes_nothing(database_url: str) -> None:
    """Schema changes are transactional (on SQLite too): a migration fails whole or not at all."""
    engine = create_engine_for(database_url)
    try:
        with engine.begin() as conn:
            # Alembic's version table with an extra required column: reading it works, but recording
            # the first revision fails, after that revision's tables were created.
            conn.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, blocker INT NOT NULL)")
            )
        with pytest.raises(Exception, match="blocker"):
            upgrade(database_url)
        assert inspect(engine).get_table_names() == ["alembic_version"]
    finally:
        engine.dispose()
