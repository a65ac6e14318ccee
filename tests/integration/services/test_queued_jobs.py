"""PostgreSQL: a job queued by any process wakes a reconciler listening in another one at once (the
trigger's NOTIFY), so ``lorapipe serve --workers N`` and ``lorapipe worker-loop`` dispatch promptly."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import FileObject, Job
from lorapipe.services import accounts, queued_jobs

pytestmark = pytest.mark.integration


def _queue_a_job(url: str) -> None:
    engine = create_engine_for(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            user = accounts.create_user(s, "q")
            file = FileObject(
                id=new_id("file"),
                owner_id=user.id,
                filename="f",
                purpose="fine-tune",
                bytes=1,
                status="processed",
            )
            s.add(file)
            s.flush()
            s.add(
                Job(
                    id=new_id("job"),
                    owner_id=user.id,
                    status="queued",
                    model="m",
                    training_file=file.id,
                    seed=1,
                    backend="local",
                )
            )
    finally:
        engine.dispose()


def _wait_until_listening(url: str, limit_s: float = 60) -> None:
    """Until a connection to the database has run the listener's LISTEN (a thread's start can take
    seconds on a loaded machine; a job queued before it would notify no one)."""
    engine = create_engine_for(url)
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = :listen"
    )
    try:
        deadline = time.monotonic() + limit_s
        while True:
            with engine.connect() as conn:
                if conn.scalar(query, {"listen": f"LISTEN {queued_jobs.CHANNEL}"}):
                    return
            assert time.monotonic() < deadline, "the listener did not LISTEN"
            time.sleep(0.05)
    finally:
        engine.dispose()


def test_a_queued_job_wakes_the_listener(migrated_url: str) -> None:
    woken = threading.Event()
    stop = threading.Event()
    thread = queued_jobs.listen(migrated_url, stop, woken.set)
    if thread is None:
        assert migrated_url.startswith("sqlite")  # one process serves SQLite: nothing to listen to
        return
    try:
        _wait_until_listening(migrated_url)  # LISTEN before the job is queued
        started = time.monotonic()
        _queue_a_job(migrated_url)
        assert woken.wait(5), "no notification for the queued job"
        assert time.monotonic() - started < 2
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
