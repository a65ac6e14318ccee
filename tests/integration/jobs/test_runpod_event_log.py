"""No engine event of a RunPod serverless run is lost or stored twice. RunPod keeps only the latest
``progress_update`` payload, which carries the lifecycle events and the newest metrics (the worker's real
:class:`ProgressRelay` builds it here), so the metric points made between two polls, and before the final
output, are only in the worker's stored event log. The backend reads that log when the run ends and the
ingestion stores each event once, on SQLite and PostgreSQL. RunPod's ``/status`` answers come from an
``httpx.MockTransport`` that follows its documented shape (``status`` and ``output``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from job_factories import make_job, make_user
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.backends.runpod_serverless import RunpodServerlessBackend
from lorapipe.contract.serverless import RECENT_METRICS, ServerlessOutput
from lorapipe.db import session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Attempt, JobEvent, MetricPoint
from lorapipe.jobs.ingest import ingest_engine_events
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore
from lorapipe.worker.relay import ProgressRelay

pytestmark = pytest.mark.integration

STEPS = 3 * RECENT_METRICS + 7  # more metric points between two polls than a payload carries


def engine_events() -> list[dict[str, Any]]:
    """An engine's events in order: a stage, one metrics event a step, a checkpoint, the result."""
    events: list[dict[str, Any]] = [{"type": "stage", "stage": "train"}]
    events += [
        {"type": "metrics", "phase": "train", "step": s, "loss": 3 - s / STEPS} for s in range(1, STEPS + 1)
    ]
    events += [{"type": "checkpoint", "step": STEPS, "path": f"checkpoint-{STEPS}"}]
    events += [{"type": "result", "status": "succeeded", "exit_code": 0}]
    return [{**e, "seq": n, "time": float(n)} for n, e in enumerate(events, start=1)]


class RunpodStatus:
    """RunPod's ``/status/{id}``: whatever ``answer`` holds now (the latest progress, then the output)."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {"status": "IN_QUEUE"}

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "GET" and "/status/rp-1" in request.url.path, request.url
        return httpx.Response(200, json={"id": "rp-1", **self.answer})


def backend_for(tmp_path: Path, status: RunpodStatus) -> RunpodServerlessBackend:
    settings = Settings(
        data_dir=tmp_path,
        storage_url="s3://bucket/root",  # the backend refuses a local store; the objects are passed in
        runpod_api_key="test-key",
        runpod_endpoint_id="ep1",
        runpod_worker_image="ghcr.io/example/lorapipe-worker:1.0",
    )
    objects = ObjectStore((tmp_path / "objects").as_uri())
    client = httpx.Client(transport=httpx.MockTransport(status.handle))
    return RunpodServerlessBackend(settings, objects, client=client, sleep=lambda _: None)


def test_metric_points_between_polls_come_from_the_stored_log_each_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    status = RunpodStatus()
    backend = backend_for(tmp_path, status)
    with session_scope(sessions) as s:
        job = make_job(s, make_user(s))
        attempt = Attempt(
            id=new_id("attempt"), job_id=job.id, number=1, backend=backend.name, status="running"
        )
        s.add(attempt)
        s.flush()
        job_id, attempt_id = job.id, attempt.id
    handle: dict[str, Any] = {
        "runpod_id": "rp-1",
        "seq": 0,
        "events_key": f"runs/{job_id}/{attempt_id}/events.jsonl",
        "adapter_key": f"runs/{job_id}/{attempt_id}/adapter/manifest.json",
    }

    def poll() -> str:
        nonlocal handle
        result = backend.poll(handle)
        handle = result.handle
        with session_scope(sessions) as s:
            ingest_engine_events(s, s.get(Attempt, attempt_id), result.events)
        return result.state

    relay = ProgressRelay(attempt_id, interval_s=0)
    events = engine_events()
    polled_at = {5, 5 + RECENT_METRICS + 9, 5 + 3 * RECENT_METRICS}  # polls far apart, as on a busy service
    for event in events[:-1]:
        relay.add(event)
        if event["seq"] in polled_at:
            status.answer = {"status": "IN_PROGRESS", "output": relay.payload().model_dump(mode="json")}
            assert poll() == "running"
    relay.add(events[-1])
    # The worker stores the complete log, then returns its output (the lifecycle and the newest metrics).
    log = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    backend.objects.put(handle["events_key"], log)
    output = ServerlessOutput(attempt_id=attempt_id, exit_code=0, seq=relay.seq, events=relay.events())
    status.answer = {"status": "COMPLETED", "output": output.model_dump(mode="json")}
    assert len([e for e in output.events if e["type"] == "metrics"]) == RECENT_METRICS < STEPS
    assert poll() == "exited"
    assert handle["seq"] == len(events)

    with session_scope(sessions) as s:
        steps = s.scalars(select(MetricPoint.step).where(MetricPoint.attempt_id == attempt_id)).all()
        stored = s.scalars(
            select(JobEvent.engine_seq).where(JobEvent.attempt_id == attempt_id).order_by(JobEvent.seq)
        ).all()
    assert sorted(steps) == list(range(1, STEPS + 1))
    assert sorted(stored) == [e["seq"] for e in events]  # every event, none twice

    # Reading the whole log again (a restarted service polling an expired job) adds nothing.
    status.answer = {"status": "COMPLETED", "output": output.model_dump(mode="json")}
    before = len(stored)
    assert poll() == "exited"
    with session_scope(sessions) as s:
        assert len(s.scalars(select(JobEvent.id).where(JobEvent.attempt_id == attempt_id)).all()) == before
