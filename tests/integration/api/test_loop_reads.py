"""The hot reads on the API's event loop (SQLite, and a PostgreSQL on this host) are bounded: the loop's
own connection refuses writes and gives up past its short limit, and a read it could not finish is
answered from a worker thread, not failed. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from api_harness import Api
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from test_key_cache import _job, _state

from lorapipe.api.deps import _once_more_if_dead
from lorapipe.db import create_engine_for
from lorapipe.db.engine import create_loop_reader_for, create_reader_for, postgres_is_local

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql+psycopg://u@/db", True),  # the default Unix socket
        ("postgresql+psycopg://u@/db?host=/var/run/postgresql", True),
        ("postgresql://u@localhost:5432/db", True),
        ("postgresql+psycopg://u@127.0.0.1/db", True),
        ("postgresql+psycopg://u@[::1]:5432/db", True),
        ("postgresql+psycopg://u:p@db.internal:5432/db", False),
        ("postgres://u@10.0.0.7/db", False),
    ],
)
def test_only_a_server_on_this_host_is_read_on_the_loop(url: str, local: bool) -> None:
    assert postgres_is_local(url) is local
    engine = create_loop_reader_for(url)
    try:
        assert (engine is not None) is local
    finally:
        if engine is not None:
            engine.dispose()


def test_the_loop_connection_refuses_writes_and_long_statements(migrated_url: str) -> None:
    engine = create_loop_reader_for(migrated_url)
    assert engine is not None
    postgres = engine.dialect.name == "postgresql"
    try:
        with engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(text("UPDATE auth_generation SET value = value + 1"))
        if postgres:  # SQLite's limit is its busy timeout (a lock); PostgreSQL's the statement's time
            with engine.connect() as conn, pytest.raises(OperationalError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(0.5)"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM auth_generation")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_loop_connection_keeps_the_urls_own_options(postgres_database_url: str) -> None:
    url = make_url(postgres_database_url).update_query_dict({"options": "-csearch_path=lp_elsewhere,public"})
    engine = create_loop_reader_for(url.render_as_string(hide_password=False))
    assert engine is not None
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW search_path")).scalar() == "lp_elsewhere,public"
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "50ms"
    finally:
        engine.dispose()


def test_a_read_the_loop_cannot_finish_is_answered_from_a_thread(api: Api) -> None:
    job_id = _job(api)
    url = f"/v1/fine_tuning/jobs/{job_id}"
    state = _state(api)
    assert api.client.get(url, headers=api.alice).status_code == 200  # the key is cached now
    real = state.loop_reader
    assert real is not None and state.loop_sessions is not None
    # The loop's connection fails every statement (as a lock past the busy timeout, or a statement
    # past its limit): each request must still be answered, from a thread.
    broken = create_loop_reader_for(api.settings.resolved_database_url)
    assert broken is not None

    def fail(*_: object) -> None:
        raise OperationalError("SELECT", {}, Exception("canceling statement due to statement timeout"))

    event.listen(broken, "before_cursor_execute", fail)
    state.loop_reader = broken
    state.loop_sessions.configure(bind=broken)
    try:
        for path in (url, f"{url}/events", "/v1/fine_tuning/jobs"):
            r = api.client.get(path, headers=api.alice)
            assert r.status_code == 200, (path, r.text)
        assert api.client.get(url, headers=api.alice).json()["id"] == job_id
    finally:
        state.loop_reader = real
        state.loop_sessions.configure(bind=real)
        broken.dispose()


@pytest.mark.postgres
def test_a_thread_read_on_a_dead_pooled_connection_runs_once_more(postgres_database_url: str) -> None:
    """The threads' reader has no pre-ping: a connection the server closed (a restart) fails its next
    read, which runs again on a new one instead of answering 500."""
    reader = create_reader_for(postgres_database_url, pool_size=1)
    admin = create_engine_for(postgres_database_url)
    assert reader is not None

    def backend_pid() -> bytes | None:
        with reader.connect() as conn:
            return str(conn.execute(text("SELECT pg_backend_pid()")).scalar()).encode()

    try:
        first = backend_pid()
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": int(first or 0)})
            conn.commit()
        with pytest.raises(DBAPIError):  # what a read without the retry meets
            backend_pid()
        first = backend_pid()
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": int(first or 0)})
            conn.commit()
        again = _once_more_if_dead(backend_pid)
        assert again is not None and again != first
    finally:
        reader.dispose()
        admin.dispose()
