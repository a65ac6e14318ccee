"""The worker image's entrypoint, ``python -m lorapipe.worker``, under the runpod SDK's own local test
server (``--rp_serve_api``): it imports, starts the handler, trains the tiny model on EQ-12 and returns
the manifest; a spec it cannot accept comes back as an error, not a crash."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LORAPIPE_", "RUNPOD_"))}
    env.update(
        HOME=str(tmp_path / "home"),  # the SDK reads ~/.runpod/config.toml: keep a developer's out
        HF_HUB_OFFLINE="1",
        LORAPIPE_DATA_DIR=str(tmp_path / "data"),
        LORAPIPE_WORKER_DIR=str(tmp_path / "scratch"),
        LORAPIPE_WORKER_MODEL_CACHE_DIR=str(tmp_path / "volume" / "models"),
        LORAPIPE_WORKER_MIN_FREE_GB="0",
    )
    log = (tmp_path / "worker.log").open("wb")
    argv = [sys.executable, "-m", "lorapipe.worker", "--rp_serve_api", "--rp_api_host", "127.0.0.1"]
    proc = subprocess.Popen([*argv, "--rp_api_port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/docs", timeout=2)
            break
        except httpx.TransportError:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.3)
    try:
        yield base, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def job_input(tmp_path: Path, **spec: object) -> dict[str, object]:
    store = (tmp_path / "store").as_uri()
    return {
        "attempt_id": "ftatt-local",
        "spec": {
            "job_id": "ftjob-local",
            "model": "lorapipe/tiny-qwen3",
            "dataset": {"uri": EQ12.as_uri()},
            "config": {"preset": "cpu-smoke", "max_steps": 2, "sample_prompts": 0, "max_length": 512},
            "output": {"upload_uri": f"{store}/adapter", "checkpoint_uri": f"{store}/checkpoints"},
            **spec,
        },
        "events_uri": f"{store}/events.jsonl",
    }


def test_the_worker_trains_under_the_sdk_local_server_and_returns_the_manifest(worker) -> None:
    base, tmp_path = worker
    answer = httpx.post(f"{base}/runsync", json={"input": job_input(tmp_path)}, timeout=600).json()
    assert answer["status"] == "COMPLETED", answer
    output = answer["output"]
    assert output["exit_code"] == 0 and output["kind"] == "lorapipe.result"
    files = {f["path"] for f in output["manifest"]["files"]}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= files
    stored = tmp_path / "store" / "adapter"
    assert {p.name for p in stored.iterdir()} >= files | {"manifest.json"}
    assert json.loads((stored / "manifest.json").read_text())["files"] == output["manifest"]["files"]
    assert (tmp_path / "store" / "events.jsonl").read_text().count('"type":"result"') == 1
    assert [e["type"] for e in output["events"]][-1] == "result"


def test_a_job_input_the_worker_cannot_accept_is_a_failed_job(worker) -> None:
    base, tmp_path = worker
    bad = job_input(tmp_path)
    bad["spec"]["config"]["learning_rate"] = -1  # type: ignore[index]
    answer = httpx.post(f"{base}/runsync", json={"input": bad}, timeout=120).json()
    assert answer["status"] == "FAILED", answer
    error = json.loads(answer["error"])
    assert error["exit_code"] == 2 and error["kind"] == "user" and "config.learning_rate" in error["message"]
