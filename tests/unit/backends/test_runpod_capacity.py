"""A restarted service counts the RunPod jobs and pods it already has against its concurrency limit,
even while RunPod does not answer: a fresh backend learns them from the first poll of each handle and
keeps them until RunPod says they ended. Otherwise a restart (or an outage) could rent past the limit."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from lorapipe.backends.runpod_pod import RunpodPodBackend
from lorapipe.backends.runpod_rest import RunpodRest
from lorapipe.backends.runpod_serverless import RunpodServerlessBackend
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

pytestmark = pytest.mark.unit


def _closed_port_url() -> str:
    """An address where nothing listens: every request is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        storage_url="s3://bucket/root",  # the backends refuse a local store; objects are passed in below
        runpod_api_key="test-key",
        runpod_endpoint_id="ep1",
        runpod_api_url=url,
        runpod_rest_url=url,
        runpod_max_concurrent=2,
        runpod_pod_max_concurrent=2,
        runpod_pod_gpu="NVIDIA H100 80GB HBM3",
        runpod_worker_image="ghcr.io/example/lorapipe-worker:1.0",
    )


def test_serverless_jobs_polled_after_a_restart_hold_their_slots_while_runpod_is_unreachable(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, _closed_port_url())
    objects = ObjectStore(str(tmp_path / "store"))
    backend = RunpodServerlessBackend(
        settings, objects, client=httpx.Client(timeout=2.0), sleep=lambda _: None
    )
    assert backend.free_slots() == 2
    handle = {"runpod_id": "job-a", "seq": 0, "events_key": "runs/j/a/events.jsonl", "adapter_key": "x"}
    assert backend.poll(handle).state == "running"  # no answer: ask again next tick
    assert backend.free_slots() == 1


def test_pods_polled_after_a_restart_hold_their_slots_while_runpod_is_unreachable(tmp_path: Path) -> None:
    url = _closed_port_url()
    settings = _settings(tmp_path, url)
    objects = ObjectStore(str(tmp_path / "store"))
    api = RunpodRest("test-key", url, sleep=lambda _: None, backoff_s=())
    backend = RunpodPodBackend(settings, objects, api=api)
    handle = {
        "pod_id": "pod-a",
        "seq": 0,
        "events_key": "runs/j/a/events.jsonl",
        "result_key": "runs/j/a/r.json",
    }
    assert backend.poll(handle).state == "running"
    assert backend.free_slots() == 1
