"""Shared fixtures: real databases (SQLite and PostgreSQL) and real object stores (file:// and S3).

Databases
- ``database_url``: an EMPTY database, parametrized over ``sqlite`` (a fresh file) and ``postgres``
  (a fresh schema in a per-session database). A test using it runs once per backend; the postgres
  run carries the ``postgres`` marker and is skipped, with the reason, when nothing answers at
  ``LORAPIPE_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/lorapipe_test``;
  ``scripts/ensure-postgres`` starts one).
- ``migrated_url``: a database at the newest schema (``lorapipe.db.migrate.upgrade``) with no rows,
  also over both backends; migrated once per session, so tests must not migrate it themselves.
- ``engine`` / ``session_factory`` / ``session``: on ``migrated_url``; disposed after the test.

Object stores
- ``object_store``: a file:// store in the test's tmp dir.
- ``s3_store``: an s3:// store on a fresh bucket of a moto S3 server on 127.0.0.1 (random port),
  through the real s3fs client.

Append new shared fixtures below with a docstring each; keep them generic.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db import create_engine_for, make_sessionmaker
from lorapipe.db.migrate import upgrade
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

# Shared test helpers (fakes such as fake_runpod) import by bare name from every test folder.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/lorapipe_test"


def _postgres_base_url() -> str:
    return os.environ.get("LORAPIPE_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)


def _postgres_unreachable_reason(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else why not (used as the skip reason)."""
    import psycopg

    parsed = make_url(url)
    try:
        with psycopg.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password,
            dbname="postgres",
            connect_timeout=3,
        ):
            return None
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL not answering at {parsed.render_as_string(hide_password=True)} ({first_line}); run scripts/ensure-postgres"


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end); skips when none answers."""
    base = _postgres_base_url()
    reason = _postgres_unreachable_reason(base)
    if reason:
        pytest.skip(reason)
    parsed = make_url(base)
    name = f"{parsed.database or 'lorapipe_test'}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine_for(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # template0: CREATE DATABASE fails while anyone is connected to the default template1.
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once on SQLite and once on PostgreSQL (see the module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lorapipe.db'}"
        return
    session_url = request.getfixturevalue("postgres_database_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine_for(session_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        # Every connection of the test sees only its own schema (tables, alembic_version).
        yield (
            make_url(session_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "lorapipe.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_migrated_url(postgres_database_url: str) -> Iterator[tuple[str, list[str]]]:
    """The session database at the newest schema, and its tables children first (the delete order)."""
    upgrade(postgres_database_url)
    engine = create_engine_for(postgres_database_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        # Kept: the rows the migrations write (the schema version, the revocation generation).
        kept = ("alembic_version", "auth_generation")
        order = [t.name for t in reversed(metadata.sorted_tables) if t.name not in kept]
    finally:
        engine.dispose()
    yield postgres_database_url, order


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at the newest schema with no rows, once on SQLite and once on PostgreSQL.

    Migrated once per session (a copied SQLite file; the session's PostgreSQL database, emptied after
    each test), so it is fast. Do not migrate it up or down: use ``database_url`` for that.
    """
    if request.param == "sqlite":
        path = tmp_path / "lorapipe.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_migrated_template"), path)
        yield f"sqlite:///{path}"
        return
    url, tables = request.getfixturevalue("_postgres_migrated_url")
    yield url
    engine = create_engine_for(url)
    try:
        with engine.begin() as conn:
            # A test that leaked an open transaction must not hang the whole run.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            # DELETE, not TRUNCATE: on a few small rows it is ten times faster.
            for table in tables:
                conn.execute(text(f"DELETE FROM {conn.dialect.identifier_preparer.quote(table)}"))
    finally:
        engine.dispose()


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    """An engine (``create_engine_for``) on a migrated database; disposed after the test."""
    eng = create_engine_for(migrated_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The application's sessionmaker on ``engine``."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session on a migrated database, closed (uncommitted work rolled back) after the test."""
    with session_factory() as s:
        yield s


@pytest.fixture
def object_store(tmp_path: Path) -> ObjectStore:
    """A file:// object store in the test's tmp dir."""
    return ObjectStore((tmp_path / "objects").as_uri())


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1 (random port), shared by the session."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request to stderr otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str) -> ObjectStore:
    """An s3:// object store (real s3fs) on a fresh bucket of the moto server."""
    options = {
        "endpoint_url": s3_endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    store = ObjectStore(f"s3://{bucket}/root", **options)
    store.fs.mkdir(bucket)
    return store


@pytest.fixture(scope="session")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose model cache is shared by the whole test session, so tiny models
    (``lorapipe.models.tiny``) and the converted real Qwen tokenizer are built once per session."""
    return Settings(data_dir=tmp_path_factory.mktemp("lorapipe-data"))


# --- CI: the postgres and browser halves must run ---------------------------------------------------

#: Markers whose tests skip when a service or browser is missing; under CI=true a skip of one fails the run.
CI_REQUIRED_MARKERS = ("postgres", "browser")
_ci_required_skips: list[str] = []
_ci_required_ran: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not any(marker in report.keywords for marker in CI_REQUIRED_MARKERS):
        return
    if report.skipped:
        _ci_required_skips.append(report.nodeid)
    elif report.when == "call":
        _ci_required_ran.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _ci_required_skips and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("CI") != "true":
        return
    markers = "/".join(CI_REQUIRED_MARKERS)
    if not _ci_required_skips:
        if _ci_required_ran:
            terminalreporter.write_line(
                f"CI=true: {len(_ci_required_ran)} test(s) marked {markers} ran, none skipped"
            )
        return
    terminalreporter.write_sep(
        "=", f"CI=true: {len(_ci_required_skips)} test(s) marked {markers} were skipped", red=True
    )
    for nodeid in _ci_required_skips:
        terminalreporter.write_line(f"SKIPPED IN CI {nodeid}")
    terminalreporter.write_line(
        "run scripts/ensure-postgres and scripts/ensure-chromium (the skip reasons above say what is missing)"
    )
