"""The official ``openai`` client, unchanged, against a live ``lorapipe serve`` on 127.0.0.1: upload
EQ-12, fine-tune the tiny model through the real path (API -> database -> reconciler -> engine
child process), read the job, its events and checkpoints and the new model; then cancel a second
job mid-training and check that its engine process is gone. Run once per backend: ``local`` (the
engine is the service's child) and ``runpod-serverless`` (a fake RunPod cloud runs the real worker,
whose child is the engine; artifacts go through a moto S3 store)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from live_service import EQ12, Service, engine_pids
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


def test_openai_client_trains_and_cancels(training_service: tuple[Service, str], tmp_path: Path) -> None:
    service, backend = training_service
    client = OpenAI(base_url=f"{service.base}/v1", api_key=service.key, max_retries=0)
    with EQ12.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.bytes == EQ12.stat().st_size
    assert uploaded.status == "processed"

    small = {"preset": "cpu-smoke", "config": {"max_steps": 4, "sample_prompts": 0}, "backend": backend}
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

    long = {"preset": "cpu-smoke", "config": {"max_steps": 500, "sample_prompts": 0}, "backend": backend}
    second = client.fine_tuning.jobs.create(
        model="lorapipe/tiny-qwen3", training_file=uploaded.id, extra_body=long
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events = client.fine_tuning.jobs.list_events(second.id, limit=100).data
        if any(e.type == "metrics" and "training loss" in e.message for e in events):
            break
        time.sleep(1)
    pids = engine_pids(tmp_path)
    assert pids, "no engine process is training the second job"
    cancelling = client.fine_tuning.jobs.cancel(second.id)
    assert cancelling.status in ("cancelling", "cancelled")
    ended = wait_for(client, second.id, TERMINAL, limit_s=180)
    assert ended.status == "cancelled"
    deadline = time.monotonic() + 30
    while engine_pids(tmp_path) & pids and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not engine_pids(tmp_path) & pids, "the training process survived its cancel"
