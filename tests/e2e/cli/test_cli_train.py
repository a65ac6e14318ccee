"""``lorapipe train`` and ``lorapipe adapters`` against a live service over HTTP, and against the
embedded one; ``lorapipe db upgrade`` on a fresh SQLite file. Tiny model, real processes."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cli_env import base_env
from live_service import EQ12, LORAPIPE, Service

from lorapipe.db.migrate import head_revision

pytestmark = pytest.mark.e2e
TINY = ["--model", "lorapipe/tiny-qwen3", "--preset", "cpu-smoke"]
SHORT = ["--config", json.dumps({"max_steps": 2, "sample_prompts": 0})]


def cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LORAPIPE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_train_watch_then_download_from_a_live_service(client_env: dict[str, str], tmp_path: Path) -> None:
    done = cli(client_env, "train", str(EQ12), *TINY, *SHORT, "--suffix", "cli", "--watch")
    assert done.returncode == 0, done.stderr
    job_line = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ftjob-\w+: succeeded -> ft:tiny-qwen3:cli:ftjob-\w+", job_line), done.stdout
    assert "uploaded EQ-12-conversations-demo.jsonl as file-" in done.stderr
    assert "step 2/2" in done.stderr and "succeeded: " in done.stderr

    listed = cli(client_env, "adapters", "list")
    assert listed.returncode == 0, listed.stderr
    adapter_id, name, base, job_id, *_ = listed.stdout.splitlines()[0].split("\t")
    assert base == "lorapipe/tiny-qwen3" and job_line.startswith(job_id) and name.endswith(job_id)

    shown = json.loads(cli(client_env, "adapters", "show", adapter_id).stdout)
    got = cli(client_env, "adapters", "download", adapter_id, "--to", str(tmp_path / "dl"))
    assert got.returncode == 0, got.stderr
    folder = Path(got.stdout.strip())
    for entry in shown["files"]:
        if entry["sha256"]:
            data = (folder / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    assert (folder / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((folder / "manifest.json").read_text())["files"]

    # `jobs` goes over HTTP too: the client's own data dir has no database with this job in it.
    job_id = job_line.split(":")[0]
    listed = cli(client_env, "jobs", "list")
    assert listed.returncode == 0 and listed.stdout.split("\t")[:2] == [job_id, "succeeded"], listed.stderr
    assert json.loads(cli(client_env, "jobs", "show", job_id).stdout)["status"] == "succeeded"
    events = cli(client_env, "jobs", "events", job_id, "--limit", "100").stdout.splitlines()
    assert "queued" in events[0] and "succeeded" in events[-1]
    watched = cli(client_env, "jobs", "watch", job_id)
    assert watched.returncode == 0 and watched.stdout.strip() == job_line
    refused = cli(client_env, "jobs", "cancel", job_id)
    assert refused.returncode == 2 and "invalid_state_transition" in refused.stderr


def test_a_wrong_key_is_refused_with_the_services_error(client_env: dict[str, str]) -> None:
    done = cli(client_env | {"LORAPIPE_API_KEY": "lp-not-a-key"}, "adapters", "list")
    assert done.returncode == 2
    assert "invalid API key" in done.stderr


def test_train_without_a_service_runs_an_embedded_one(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    done = cli(env, "train", str(EQ12), *TINY, *SHORT)  # --watch is the default when embedded
    assert done.returncode == 0, done.stderr
    assert re.search(r"ftjob-\w+: succeeded -> ft:tiny-qwen3:ftjob-\w+", done.stdout), done.stdout
    # The job went through the real records: the data dir's database holds it, and its adapter.
    listed = cli(env, "adapters", "list")
    assert listed.returncode == 0 and listed.stdout.count("\n") == 1, listed.stderr


def test_db_upgrade_creates_a_fresh_sqlite_file_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = base_env(tmp_path / "data")
    first = cli(env, "db", "upgrade", "--url", url)
    assert first.returncode == 0, first.stderr
    assert f"empty -> {head_revision()}" in first.stdout
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}
        version = conn.execute("select version_num from alembic_version").fetchone()[0]
    assert {"users", "jobs", "adapters", "alembic_version"} <= tables and version == head_revision()
    again = cli(env, "db", "upgrade", "--url", url)
    assert again.returncode == 0 and f"already at {head_revision()}" in again.stdout


def _first_job(service: Service) -> dict[str, object]:
    jobs = httpx.get(
        f"{service.base}/v1/fine_tuning/jobs", headers={"Authorization": f"Bearer {service.key}"}
    ).json()["data"]
    return dict(jobs[0]) if jobs else {}


def test_ctrl_c_while_watching_asks_and_cancels_the_job(client_env: dict[str, str], service: Service) -> None:
    long = ["--config", json.dumps({"max_steps": 500, "sample_prompts": 0})]
    proc = subprocess.Popen(
        [*LORAPIPE, "train", str(EQ12), *TINY, *long, "--watch"],
        env=client_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while _first_job(service).get("status") != "running" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _first_job(service).get("status") == "running"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate("y\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Cancel job" in stdout + stderr
    assert proc.returncode == 1, stderr
    assert re.search(r"ftjob-\w+: cancelled", stdout), stdout + stderr
    assert _first_job(service)["status"] == "cancelled"
