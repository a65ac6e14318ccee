"""``lorapipe users|keys|jobs`` as a user runs them (subprocesses on a real SQLite data dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from job_factories import FAKE, FAST, fake_spec, make_job, run_until, store

from lorapipe.backends.local import LocalBackend
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.accounts import ApiKey
from lorapipe.services import accounts
from lorapipe.services.reconciler import Reconciler

pytestmark = pytest.mark.integration


def lorapipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lorapipe.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_keys_and_jobs_commands(tmp_path: Path) -> None:
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path / "data")}
    env.pop("LORAPIPE_DATABASE_URL", None)
    assert lorapipe(env, "users", "create", "ann").returncode == 0
    again = lorapipe(env, "users", "create", "ann")
    assert again.returncode == 2 and "[conflict]" in again.stderr
    made = lorapipe(env, "keys", "create", "--user", "ann")
    secret = made.stdout.strip()
    assert made.returncode == 0 and secret.startswith("lp-") and secret not in made.stderr
    key_id = made.stderr.split()[1]

    url = f"sqlite:///{tmp_path / 'data' / 'lorapipe.db'}"
    sessions = make_sessionmaker(create_engine_for(url))
    with session_scope(sessions) as s:
        assert accounts.find_user(s, "ann").id
        job = make_job(s, accounts.find_user(s, "ann"))
        job.spec = fake_spec(job.id, "succeed")
        job_id = job.id
    rec = Reconciler(
        sessions,
        {"local": LocalBackend(tmp_path / "runs", engine_command=FAKE)},
        store(tmp_path),
        policy=FAST,
    )
    run_until(rec, sessions, job_id, {"succeeded"})

    watched = lorapipe(env, "jobs", "watch", job_id)
    assert watched.returncode == 0 and f"ft:tiny:{job_id}" in watched.stdout
    shown = json.loads(lorapipe(env, "jobs", "show", job_id).stdout)
    assert shown["status"] == "succeeded"
    events = lorapipe(env, "jobs", "events", job_id).stdout
    assert "training loss" in events and "succeeded" in events
    listed = lorapipe(env, "jobs", "list").stdout
    assert job_id in listed
    refused = lorapipe(env, "jobs", "cancel", job_id)
    assert refused.returncode == 2 and "invalid_state_transition" in refused.stderr
    assert lorapipe(env, "keys", "revoke", key_id).returncode == 0
    with session_scope(sessions) as s:
        row = s.get(ApiKey, key_id)
        assert row is not None and row.revoked_at is not None


def test_worker_loop_runs_until_sigterm(tmp_path: Path) -> None:
    import signal
    import threading

    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path / "data")}
    env.pop("LORAPIPE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorapipe.cli.main", "worker-loop", "--interval", "0.2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # SIGTERM once it says it runs (its handler is in place by then): migrating a new database and
    # importing the backends take seconds on a loaded machine, and a SIGTERM before kills it outright.
    assert proc.stderr is not None
    lines: list[str] = []
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    for line in proc.stderr:
        lines.append(line)
        if "running;" in line:
            break
    watchdog.cancel()
    assert proc.poll() is None, "".join(lines)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=30)
    stderr = "".join(lines) + rest
    assert proc.returncode == 0, stderr
    assert "reconciler" in stderr and "running" in stderr
