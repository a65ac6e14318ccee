"""Training on RunPod serverless, end to end on one machine: a live ``lorapipe serve`` whose jobs go to a
fake RunPod cloud (tests/support/fake_runpod.py, RunPod's documented contract) that runs the REAL worker
(``python -m lorapipe.worker`` under the real runpod SDK) on a tiny model, with a moto S3 server as the
shared object store. A second service with an empty data dir serves the adapter; no secret leaks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_service import EQ12, LORAPIPE, Service, free_port
from runpod_stack import RunpodStack, everything_captured, runpod_stack

pytestmark = pytest.mark.e2e

TERMINAL = {"succeeded", "failed", "cancelled"}


def start_service(env: dict[str, str], tmp: Path, name: str, key: str | None = None) -> Service:
    if key is None:
        subprocess.run([*LORAPIPE, "users", "create", "ci"], env=env, check=True, capture_output=True)
        made = subprocess.run(
            [*LORAPIPE, "keys", "create", "--user", "ci"], env=env, check=True, capture_output=True
        )
        key = made.stdout.decode().strip()
    svc = Service(env=env, log_path=tmp / f"{name}.log", port=free_port(), key=key)
    svc.start()
    return svc


@pytest.fixture
def stack(tmp_path: Path, s3_endpoint: str) -> Iterator[RunpodStack]:
    with runpod_stack(tmp_path / "rp", s3_endpoint) as s:
        s.launch_worker()
        yield s


def wait_job(svc: Service, job_id: str, limit_s: float = 300) -> dict:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = httpx.get(f"{svc.base}/v1/fine_tuning/jobs/{job_id}", headers=svc.auth).json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} still {job['status']}")


def test_a_job_trains_on_runpod_and_a_second_replica_serves_the_adapter(
    stack: RunpodStack, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'shared-db' / 'lorapipe.db'}"
    (tmp_path / "shared-db").mkdir()
    env_a = stack.service_env(tmp_path / "a", LORAPIPE_DATABASE_URL=db)
    a = start_service(env_a, tmp_path, "a")
    try:
        with EQ12.open("rb") as handle:
            file = httpx.post(
                f"{a.base}/v1/files",
                headers=a.auth,
                files={"file": ("eq12.jsonl", handle)},
                data={"purpose": "fine-tune"},
            ).json()
        body = {
            "model": "lorapipe/tiny-qwen3",
            "training_file": file["id"],
            "backend": "runpod-serverless",
            "preset": "cpu-smoke",
            "config": {"max_steps": 4, "sample_prompts": 0},
        }
        created = httpx.post(f"{a.base}/v1/fine_tuning/jobs", headers=a.auth, json=body, timeout=120)
        assert created.status_code == 200, created.text
        job = wait_job(a, created.json()["id"])
        assert job["status"] == "succeeded", job.get("error")
        events = httpx.get(
            f"{a.base}/v1/fine_tuning/jobs/{job['id']}/events?limit=100", headers=a.auth
        ).json()["data"]
        messages = [e["message"] for e in events]
        assert any("training loss" in m for m in messages) and any("Stage uploading" in m for m in messages)
        assert job["trained_tokens"] and job["trained_tokens"] > 0

        # The run went through RunPod: one job on the fake, with the worker's progress in its status.
        runs = stack.fake.requests_matching("/run", method="POST", side="public")
        assert len(runs) == 1 and runs[0].json()["policy"]["executionTimeout"] >= 600_000
        progress = [
            r for r in stack.fake.requests_matching("/job-done", side="worker") if '"IN_PROGRESS"' in r.body
        ]
        assert progress, "the worker sent no progress update"

        # Artifacts are in the store, their checksums as in the manifest, read by a service on another disk.
        env_b = stack.service_env(tmp_path / "b", LORAPIPE_DATABASE_URL=db)
        b = start_service(env_b, tmp_path, "b", key=a.key)
        try:
            adapters = httpx.get(f"{b.base}/api/adapters", headers=b.auth).json()["data"]
            assert len(adapters) == 1
            manifest = httpx.get(
                f"{b.base}/api/adapters/{adapters[0]['id']}/files/manifest.json", headers=b.auth
            ).json()
            listed = {f["path"]: f["sha256"] for f in manifest["files"]}
            weights = httpx.get(
                f"{b.base}/api/adapters/{adapters[0]['id']}/files/adapter_model.safetensors", headers=b.auth
            )
            assert weights.status_code == 200
            assert hashlib.sha256(weights.content).hexdigest() == listed["adapter_model.safetensors"]
            assert not any((tmp_path / "b").rglob("adapter_model.safetensors"))
        finally:
            b.stop()

        # The RunPod state and the billed cost, in the API, the dashboard and the CLI.
        deadline = time.monotonic() + 30
        native = httpx.get(f"{a.base}/api/jobs/{job['id']}", headers=a.auth).json()
        while native["cost"] is None and time.monotonic() < deadline:  # booked by the outbox loop
            time.sleep(0.5)
            native = httpx.get(f"{a.base}/api/jobs/{job['id']}", headers=a.auth).json()
        assert native["backend_state"]["provider_status"] == "COMPLETED"
        assert native["cost"]["usd"] > 0, native["cost"]
        lines = httpx.get(f"{a.base}/api/costs", headers=a.auth).json()
        assert "A100" in json.dumps(lines) and "serverless" in json.dumps(lines)
        page = httpx.get(f"{a.base}/ui/jobs/{job['id']}", cookies={"lorapipe_key": a.key}).text
        assert "COMPLETED" in page and f"${native['cost']['usd']:.4f}" in page
        cli_env = {**env_a, "LORAPIPE_API_URL": a.base, "LORAPIPE_API_KEY": a.key}
        shown = subprocess.run(
            [*LORAPIPE, "jobs", "show", job["id"]], env=cli_env, capture_output=True, text=True
        )
        assert shown.returncode == 0 and '"provider_status": "COMPLETED"' in shown.stdout

        captured = (
            everything_captured(stack, a.log_path, tmp_path / "b.log") + json.dumps(events) + json.dumps(job)
        )
        for secret in stack.secrets():
            assert secret not in captured
    finally:
        a.stop()
