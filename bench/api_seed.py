"""The seeded databases of bench/api.py: a fresh PostgreSQL database (or None), users with keys,
finished jobs carrying a real frozen estimate, events, and the hostile user's job that stays queued."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import FileObject, Job
from lorapipe.db.migrate import upgrade
from lorapipe.jobs.events import append_event
from lorapipe.jobs.transition import transition
from lorapipe.services import accounts

PG_ADMIN = os.environ.get(
    "LORAPIPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_database() -> tuple[str, Callable[[], None]] | None:
    """A fresh PostgreSQL database and its dropper, or None when none answers."""
    from sqlalchemy.engine import make_url

    admin_url = make_url(PG_ADMIN).set(database="postgres")
    admin = create_engine_for(admin_url.render_as_string(hide_password=False))
    name = "lp_bench_" + secrets.token_hex(5)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server: the PostgreSQL figure is reported as missing
        print(f"PostgreSQL unavailable ({type(exc).__name__}); skipped")
        admin.dispose()
        return None

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def seed(url: str, events: int = 250) -> tuple[str, str]:
    """Migrate, create a user with a key and one finished job with ``events`` events."""
    key, job_id = seed_user(url, "bench", events, JobStatus.CANCELLED)
    return key, job_id


def frozen_estimate() -> dict[str, Any]:
    """A real estimate, as a job created through the API freezes one (Qwen3-8B, EQ-12's size): what
    the job row carries (tens of KB of JSON) whether or not a read returns it."""
    from lorapipe.estimate.request import DatasetTokensIn, EstimateRequest, estimate_with_settings
    from lorapipe.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        request = EstimateRequest(
            model="Qwen/Qwen3-8B",
            dataset=DatasetTokensIn(tokens=59_000, trained_tokens=19_000, examples=12),
        )
        report = estimate_with_settings(request, Settings(data_dir=Path(tmp)))
    return report.model_dump(mode="json")


def seed_jobs(url: str, key: str, count: int) -> None:
    """``count`` more finished jobs for the key's user, each with the frozen estimate (as they would
    have from the API), and the estimate on its existing jobs too."""
    from sqlalchemy import update

    from lorapipe.db.accounts import ApiKey, hash_api_key

    estimate = frozen_estimate()
    engine = create_engine_for(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            owner = s.scalar(select(ApiKey.user_id).where(ApiKey.key_hash == hash_api_key(key)))
            file = s.scalar(select(FileObject.id).where(FileObject.owner_id == owner))
            s.execute(update(Job).where(Job.owner_id == owner).values(estimate=estimate))
            for _ in range(count):
                job = Job(
                    id=new_id("job"),
                    owner_id=owner,
                    status="queued",
                    model="m",
                    training_file=file,
                    seed=1,
                    backend="local",
                    estimate=estimate,
                )
                s.add(job)
                s.flush()
                transition(s, job, JobStatus.CANCELLED, "bench seed")
    finally:
        engine.dispose()


def seed_hostile(url: str) -> tuple[str, str]:
    """A second user whose job stays queued (its event streams never end by themselves)."""
    return seed_user(url, "mallory", 0, None)


def seed_user(url: str, name: str, events: int, end: JobStatus | None) -> tuple[str, str]:
    upgrade(url)
    engine = create_engine_for(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            user = accounts.create_user(s, name)
            _, key = accounts.create_api_key(s, user)
            file = FileObject(
                id=new_id("file"),
                owner_id=user.id,
                filename="b.jsonl",
                purpose="fine-tune",
                bytes=1,
                status="processed",
            )
            s.add(file)
            s.flush()
            job = Job(
                id=new_id("job"),
                owner_id=user.id,
                status="queued",
                model="m",
                training_file=file.id,
                seed=1,
                # The hostile user's job is on a backend no reconciler serves: it stays queued, so its
                # event streams stay open.
                backend="local" if end is not None else "nowhere",
            )
            s.add(job)
            s.flush()
            if end is not None:
                transition(s, job, end, "bench seed")
            for n in range(events):
                append_event(
                    s, job.id, type="metrics", message=f"step {n}", data={"step": n, "loss": 1.0 / (n + 1)}
                )
            return key, job.id
    finally:
        engine.dispose()
