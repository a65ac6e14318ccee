"""The official ``openai`` client, unchanged, against a live ``lorapipe serve`` on 127.0.0.1: upload
EQ-12, fine-tune the tiny model through the real path (API -> database -> reconciler -> engine
child process), read the job, its events and checkpoints and the new model; then cancel a second
job mid-training and check that its process is gone."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[3]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
LORAPIPE = [sys.executable, "-m", "lorapipe.cli.main"]
TERMINAL = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    env.pop("LORAPIPE_DATABASE_URL", None)
    subprocess.run([*LORAPIPE, "users", "create", "ci"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*LORAPIPE, "keys", "create", "--user", "ci"], env=env, check=True, capture_output=True
    )
    key = made.stdout.decode().strip()
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([*LORAPIPE, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "serve.log").read_text())
        yield base, key, env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_for(client: OpenAI, job_id: str, statuses: set[str], limit_s: float = 600) -> object:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} still {job.status}")


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_openai_client_trains_and_cancels(server: tuple[str, str, dict[str, str]]) -> None:
    base, key, _ = server
    client = OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    with EQ12.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.bytes == EQ12.stat().st_size
    assert uploaded.status == "processed"

    small = {"preset": "cpu-smoke", "config": {"max_steps": 4, "sample_prompts": 0}}
    job = client.fine_tuning.jobs.create(
        model="lorapipe/tiny-qwen3", training_file=uploaded.id, suffix="ci", extra_body=small
    )
    assert job.status == "queued"
    listed = client.fine_tuning.jobs.list(limit=5)
    assert [j.id for j in listed.data] == [job.id]

    done = wait_for(client, job.id, TERMINAL)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model == f"ft:tiny-qwen3:ci:{job.id}"
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events]
    assert messages[0].startswith("succeeded") and any("training loss" in m for m in messages)
    assert any(e.type == "metrics" for e in events)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and checkpoints[0].step_number == 4
    assert done.fine_tuned_model in [m.id for m in client.models.list().data]

    long = {"preset": "cpu-smoke", "config": {"max_steps": 500, "sample_prompts": 0}}
    second = client.fine_tuning.jobs.create(
        model="lorapipe/tiny-qwen3", training_file=uploaded.id, extra_body=long
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events = client.fine_tuning.jobs.list_events(second.id, limit=100).data
        if any(e.type == "metrics" and "training loss" in e.message for e in events):
            break
        time.sleep(1)
    started = next(e.message for e in events if e.message.startswith("running"))
    pid = int(re.search(r"pid (\d+)", started).group(1))  # type: ignore[union-attr]
    assert pid_alive(pid)
    cancelling = client.fine_tuning.jobs.cancel(second.id)
    assert cancelling.status in ("cancelling", "cancelled")
    ended = wait_for(client, second.id, TERMINAL, limit_s=120)
    assert ended.status == "cancelled"
    assert not pid_alive(pid), "the training process survived its cancel"
