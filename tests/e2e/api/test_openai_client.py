"""The official ``openai`` client, unchanged, against a live ``lorapipe serve`` on 127.0.0.1: upload
EQ-12, fine-tune the tiny model through the real path (API -> database -> reconciler -> engine
child process), read the job, its events and checkpoints and the new model; then cancel a second
job mid-training and check that its process is gone."""

from __future__ import annotations

import re
import time

import pytest
from live_service import EQ12, Service, pid_alive
from openai import OpenAI

pytestmark = pytest.mark.e2e

TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for(client: OpenAI, job_id: str, statuses: set[str], limit_s: float = 600) -> object:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} still {job.status}")


def test_openai_client_trains_and_cancels(service: Service) -> None:
    client = OpenAI(base_url=f"{service.base}/v1", api_key=service.key, max_retries=0)
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
    assert done.trained_tokens and done.trained_tokens > 0  # read from the engine's metrics summary
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
