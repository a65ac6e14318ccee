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


class Attempt1:
    """A job's first attempt on RunPod job ``rp-1``: the backend polls it, the real ingestion stores what
    each poll returns."""

    def __init__(self, sessions: sessionmaker[Session], tmp_path: Path) -> None:
        self.sessions, self.status = sessions, RunpodStatus()
        self.backend = backend_for(tmp_path, self.status)
        with session_scope(sessions) as s:
            job = make_job(s, make_user(s))
            attempt = Attempt(
                id=new_id("attempt"), job_id=job.id, number=1, backend=self.backend.name, status="running"
            )
            s.add(attempt)
            s.flush()
            self.job_id, self.id = job.id, attempt.id
        self.handle: dict[str, Any] = {
            "runpod_id": "rp-1",
            "seq": 0,
            "events_key": f"runs/{self.job_id}/{self.id}/events.jsonl",
            "adapter_key": f"runs/{self.job_id}/{self.id}/adapter/manifest.json",
        }

    def poll(self) -> str:
        result = self.backend.poll(self.handle)
        self.handle = result.handle
        with session_scope(self.sessions) as s:
            ingest_engine_events(s, s.get(Attempt, self.id), result.events)
        return result.state

    def running(self, relay: ProgressRelay) -> None:
        """RunPod answers with the worker's latest progress payload; the service polls."""
        self.status.answer = {"status": "IN_PROGRESS", "output": relay.payload().model_dump(mode="json")}
        assert self.poll() == "running"

    def completed(self, relay: ProgressRelay, log: list[dict[str, Any]]) -> ServerlessOutput:
        """The worker stores its complete log, then returns its output; the service polls."""
        self.backend.objects.put(
            self.handle["events_key"], b"".join(json.dumps(e).encode() + b"\n" for e in log)
        )
        output = ServerlessOutput(attempt_id=self.id, exit_code=0, seq=relay.seq, events=relay.events())
        self.status.answer = {"status": "COMPLETED", "output": output.model_dump(mode="json")}
        assert self.poll() == "exited"
        return output

    def stored(self) -> tuple[list[int], list[JobEvent]]:
        """The metric points' steps and the events stored for the attempt, in the job's order."""
        with session_scope(self.sessions) as s:
            steps = s.scalars(select(MetricPoint.step).where(MetricPoint.attempt_id == self.id)).all()
            events = s.scalars(
                select(JobEvent).where(JobEvent.attempt_id == self.id).order_by(JobEvent.seq)
            ).all()
            s.expunge_all()
        return list(steps), list(events)


def test_metric_points_between_polls_come_from_the_stored_log_each_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    attempt = Attempt1(sessions, tmp_path)
    relay = ProgressRelay(attempt.id, interval_s=0)
    events = engine_events()
    polled_at = {5, 5 + RECENT_METRICS + 9, 5 + 3 * RECENT_METRICS}  # polls far apart, as on a busy service
    for event in events[:-1]:
        relay.add(event)
        if event["seq"] in polled_at:
            attempt.running(relay)
    relay.add(events[-1])
    output = attempt.completed(relay, events)
    assert len([e for e in output.events if e["type"] == "metrics"]) == RECENT_METRICS < STEPS
    assert attempt.handle["seq"] == len(events)

    steps, stored = attempt.stored()
    assert sorted(steps) == list(range(1, STEPS + 1))
    assert sorted(e.engine_seq or 0 for e in stored) == [e["seq"] for e in events]  # every event, none twice

    # Reading the whole log again (a restarted service polling an expired job) adds nothing.
    assert attempt.poll() == "exited"
    assert len(attempt.stored()[1]) == len(stored)


def test_a_rerun_on_a_fresh_disk_numbering_from_1_again_is_stored_whole(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    attempt = Attempt1(sessions, tmp_path)
    # The first worker run: 40 steps and a checkpoint at 20 reach the service, then the machine dies.
    first = ProgressRelay(attempt.id, interval_s=0)
    dead = [{**e, "run": "first"} for e in engine_events()[: 1 + 40]]
    dead.insert(21, {"type": "checkpoint", "step": 20, "path": "checkpoint-20", "seq": 0})
    for n, event in enumerate(dead, start=1):
        first.add({**event, "seq": n})
        if n % 10 == 0 or n == len(dead):
            attempt.running(first)
    # RunPod runs the job again on another machine: the engine resumes from checkpoint-20 and numbers
    # its events from 1, as a fresh disk has no event log to go on from.
    second = ProgressRelay(attempt.id, interval_s=0)
    rerun = [{"type": "stage", "stage": "train"}]
    rerun += [{"type": "metrics", "phase": "train", "step": s, "loss": 1.0} for s in range(21, STEPS + 1)]
    rerun += [{"type": "result", "status": "succeeded", "exit_code": 0}]
    rerun = [{**e, "seq": n, "run": "second"} for n, e in enumerate(rerun, start=1)]
    for event in rerun[: len(rerun) // 2]:
        second.add(event)
    attempt.running(second)
    for event in rerun[len(rerun) // 2 :]:
        second.add(event)
    attempt.completed(second, rerun)  # the new machine's log holds the second run only

    steps, stored = attempt.stored()
    assert sorted(steps) == sorted([*range(1, 41), *range(21, STEPS + 1)])  # step 21-40 twice: both ran
    assert [e.data["engine_type"] for e in stored].count("result") == 1
    assert len(stored) == len(dead) + len(rerun)
    assert all("run" not in (e.data or {}) for e in stored)
