"""Failure injection on the RunPod serverless path: each failure ends the job in the right state, with the
right reason, and no job is left stuck. Everything is real except RunPod itself: the reconciler and the
backend in-process on a SQLite database, the fake RunPod cloud (RunPod's documented contract,
tests/support/fake_runpod.py) driving the real runpod SDK worker loop around the real lorapipe worker,
which trains the tiny model in an engine child process, and a moto S3 server as the shared store.

No secret (the S3 secret, the RunPod API key, the worker key) appears in anything captured: the requests
RunPod received (job input included), the worker and service logs, and the database's jobs, attempts and
events."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from runpod_service import ReadOnlyPrefixS3, RunpodService
from runpod_stack import RunpodStack

from lorapipe.backends.runpod_serverless import BACKOFF_S
from lorapipe.services.jobs import cancel_job

pytestmark = pytest.mark.e2e

#: Short CPU runs: no held-out evaluation, short rows, one example a step.
FAST: dict[str, Any] = {"validation_split": 0, "max_length": 512, "batch_size": 1}


def runpod_id_of(svc: RunpodService, job_id: str, number: int = 1) -> str:
    """The RunPod job id of attempt ``number``."""
    return str(svc.attempts(job_id)[number - 1].handle["runpod_id"])


def train_steps(svc: RunpodService, job_id: str, number: int) -> list[int]:
    return [e["step"] for e in svc.engine_events(job_id, "metrics", number) if e.get("phase") == "train"]


class EngineFreezer(threading.Thread):
    """SIGSTOPs the worker's engine as soon as its event log has an event ``at`` accepts, read from the
    worker's scratch disk (not through the service, whose polls lag by seconds on a loaded machine: long
    enough for a tiny model to finish its run). ``engine()`` is its process group."""

    def __init__(self, stack: RunpodStack, worker: Any, at: Callable[[dict[str, Any]], bool]) -> None:
        super().__init__(daemon=True)
        self.scratch, self.worker, self.at = stack.workdir / "worker-scratch", worker, at
        self.pgid: int | None = None
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.is_set():
            for log in self.scratch.glob("*/events.jsonl"):
                lines = log.read_text("utf-8").splitlines()
                if any(self.at(json.loads(line)) for line in lines if line.endswith("}")):
                    children = psutil.Process(self.worker.pid).children(recursive=True)
                    (engine,) = [c for c in children if any(a.endswith("spec.json") for a in c.cmdline())]
                    os.killpg(engine.pid, signal.SIGSTOP)
                    self.pgid = engine.pid
                    self.done.set()
                    return
            time.sleep(0.01)

    def engine(self) -> int:
        self.done.wait(30)
        self.done.set()
        assert self.pgid is not None, "the engine was not frozen"
        return self.pgid


def checkpoint_at(step: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("type") == "checkpoint" and e.get("step") == step


def train_step(step: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("type") == "metrics" and e.get("phase") == "train" and e.get("step") == step


def thaw_once_terminated(pgid: int, limit_s: float = 60) -> None:
    """SIGCONT the frozen engine once a SIGTERM is pending on it (the stop reached it while it was frozen):
    it then checkpoints where it was frozen and exits, instead of training on first."""
    sigterm = 1 << (signal.SIGTERM - 1)
    deadline = time.monotonic() + limit_s
    status = Path(f"/proc/{pgid}/status")
    while time.monotonic() < deadline:
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        if (int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)) & sigterm:
            os.killpg(pgid, signal.SIGCONT)
            return
        time.sleep(0.01)
    os.killpg(pgid, signal.SIGCONT)
    raise AssertionError(f"the engine (pid {pgid}) got no SIGTERM in {limit_s} s")


# --- the worker fails ------------------------------------------------------------------------------


def test_a_handler_that_raises_fails_each_attempt_and_the_retries_are_bounded(
    stack: RunpodStack, launch: Any, make_service: Any, tmp_path: Path
) -> None:
    svc: RunpodService = make_service()
    scratch = tmp_path / "scratch-is-a-file"
    scratch.write_text("")  # the worker's scratch disk is unusable: the handler raises, not the engine
    worker = launch(LORAPIPE_WORKER_DIR=str(scratch))
    job_id = svc.create(max_steps=2, max_attempts=2, **FAST)

    job = svc.run_to_end(job_id, limit_s=90)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "worker_failed" and job.error["kind"] == "system"
    assert "Not a directory" in job.error["message"] and "Traceback" not in job.error["message"]
    attempts = svc.attempts(job_id)
    assert [a.status for a in attempts] == ["exited", "exited"]  # retried once (system error), then failed
    assert any("retry 2/2" in m for m in svc.messages(job_id))
    fake_jobs = [stack.fake.job(runpod_id_of(svc, job_id, n)) for n in (1, 2)]
    assert [j.status for j in fake_jobs] == ["FAILED", "FAILED"] and all(j.retries == 0 for j in fake_jobs)
    assert worker.jobs_taken == [j.id for j in fake_jobs]
    svc.assert_no_secret()


def test_a_spec_the_worker_rejects_fails_once_with_its_reason_not_in_a_loop(
    stack: RunpodStack, launch: Any, make_service: Any
) -> None:
    class NewerService(httpx.HTTPTransport):
        """The service one payload version ahead of the worker image: every /run input says version 2."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/run"):
                body = json.loads(request.read())
                body["input"]["version"] = 2
                headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
                request = httpx.Request("POST", request.url, headers=headers, json=body)
            return super().handle_request(request)

    svc: RunpodService = make_service(backend_client=httpx.Client(transport=NewerService(), timeout=30))
    worker = launch()
    job_id = svc.create(max_steps=2, max_attempts=3, **FAST)

    job = svc.run_to_end(job_id, limit_s=90)
    assert job.status == "failed"
    assert job.error is not None and job.error["kind"] == "user", job.error
    assert job.error["code"] == "invalid_config"
    assert "payload version 2 is not supported" in job.error["message"]
    assert len(svc.attempts(job_id)) == 1  # a user error is not retried
    (fake_job,) = stack.fake.jobs.values()
    assert fake_job.status == "FAILED" and fake_job.retries == 0
    assert worker.jobs_taken == [fake_job.id]  # taken once: no crash loop
    assert "starting the engine" not in worker.log_text()
    svc.assert_no_secret()


@pytest.mark.parametrize("disk", ["same disk", "fresh disk"])
def test_a_worker_that_dies_mid_run_is_replaced_and_the_run_resumes_from_its_checkpoint(
    stack: RunpodStack, launch: Any, make_service: Any, disk: str
) -> None:
    svc: RunpodService = make_service()
    worker = launch()
    job_id = svc.create(max_steps=6, save_steps=2, max_attempts=2, **FAST)
    # Frozen once step 3 is logged (checkpoint-2 is mirrored by then), so the run cannot end before the
    # container dies, however slow the machine.
    freezer = EngineFreezer(stack, worker, train_step(3))
    svc.wait_for_message(job_id, "Checkpoint saved at step 2")
    engine = freezer.engine()
    svc.tick_until(lambda: 2 in svc.complete_checkpoints(job_id), 60, "checkpoint-2 mirrored")

    # The container dies (OOM-killed): no SIGTERM, nothing saved on the way out, the engine with it.
    # RunPod re-queues the job (the fake's default, as runpod-workers/worker-vllm#29 reports) and the
    # replacement worker runs it.
    assert worker.pid is not None
    if disk == "fresh disk":  # the replacement runs on another machine (the usual case): no event log
        assert worker.env is not None
        worker.env["LORAPIPE_WORKER_DIR"] = str(stack.workdir / "another-machine")
    os.killpg(engine, signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)
    killed_at = dt.datetime.now(dt.UTC)
    saved = max(svc.complete_checkpoints(job_id))
    job = svc.run_to_end(job_id)

    assert job.status == "succeeded", job.error
    assert len(svc.attempts(job_id)) == 1  # RunPod's own re-run, within the attempt
    runpod_id = runpod_id_of(svc, job_id)
    assert stack.fake.job(runpod_id).retries == 1 and stack.fake.job(runpod_id).status == "COMPLETED"
    assert worker.launches >= 2 and worker.jobs_taken.count(runpod_id) == 2
    # The replacement went on from the newest mirrored checkpoint, not from step 1.
    assert "starting the engine with --resume" in worker.log_text()
    rerun = [
        e["step"]
        for e in svc.engine_events(job_id, "metrics")
        if e.get("phase") == "train" and dt.datetime.fromisoformat(e["time"]) > killed_at
    ]
    # (from checkpoint-N on this worker's disk when its upload had not finished: N is past ``saved``)
    assert rerun and rerun[0] - 1 >= saved and (rerun[0] - 1) % 2 == 0, rerun
    assert rerun == list(range(rerun[0], 7)), rerun
    # Every event of the replacement is stored, though on a fresh disk its engine numbered them from 1.
    assert [r["status"] for r in svc.engine_events(job_id, "result")] == ["succeeded"]
    assert not any(e.get("code") == "no_checkpoint" for e in svc.engine_events(job_id, "warning"))
    svc.assert_no_secret()


# --- RunPod stops the run ----------------------------------------------------------------------------


def test_an_execution_timeout_saves_a_checkpoint_and_the_retry_resumes_from_it(
    stack: RunpodStack, launch: Any, make_service: Any
) -> None:
    svc: RunpodService = make_service()
    worker = launch()
    job_id = svc.create(max_steps=6, save_steps=2, max_attempts=2, **FAST)
    # A rate-limited submit first: refused for capacity, it never ran and must not use up the retry.
    stack.fake.throttle(len(BACKOFF_S) + 1)
    svc.reconciler.tick()
    # Frozen at its first checkpoint until the stop has reached it: the run cannot end before RunPod
    # stops it, however slow the machine (a tiny model trains 6 steps in well under a second).
    freezer = EngineFreezer(stack, worker, checkpoint_at(2))
    svc.wait_for_message(job_id, "Checkpoint saved at step 2")
    engine = freezer.engine()
    runpod_id = runpod_id_of(svc, job_id, 2)
    policy = stack.fake.requests_matching("/run", method="POST", side="public")[-1].json()["policy"]
    timeout_s = svc.job(job_id).timeout_s
    assert timeout_s and policy["executionTimeout"] == timeout_s * 1000

    # RunPod's clock reaches the job's executionTimeout now: it marks the job TIMED_OUT and stops the run.
    fake_job = stack.fake.job(runpod_id)
    assert fake_job.started_at is not None
    fake_job.execution_timeout_ms = int((time.monotonic() - fake_job.started_at) * 1000)
    stack.fake.wait_for_job(runpod_id, "TIMED_OUT", timeout=10)
    thaw_once_terminated(engine)

    job = svc.run_to_end(job_id)
    assert job.status == "succeeded", job.error
    refused, timed_out, retry = svc.attempts(job_id)
    assert refused.status == "lost" and not refused.handle
    assert (timed_out.exit_reason or "").startswith("execution_timeout"), timed_out.exit_reason
    assert retry.resume is True
    assert any("retry 2/2 from the last checkpoint" in m for m in svc.messages(job_id))
    assert (
        runpod_id in worker.stop_signals_sent
        and stack.fake.job(runpod_id).timeout_reason == "execution timeout"
    )
    # The engine checkpointed on its way out (the service learnt it from the worker's stored event log:
    # RunPod drops progress sent after the stop); the retry went on from there, not from step 1.
    checkpoint = svc.engine_events(job_id, "checkpoint", 2)[-1]
    (result,) = svc.engine_events(job_id, "result", 2)
    assert result["status"] == "cancelled"
    assert result["checkpoint"].endswith(f"checkpoint-{checkpoint['step']}")
    assert checkpoint["step"] >= 2
    assert train_steps(svc, job_id, 3)[0] == checkpoint["step"] + 1
    assert train_steps(svc, job_id, 3)[-1] == 6
    assert not any(e.get("code") == "no_checkpoint" for e in svc.engine_events(job_id, "warning", 3))
    svc.assert_no_secret()


def test_runpod_times_a_run_from_its_start_not_from_when_it_was_queued(
    stack: RunpodStack, launch: Any, make_service: Any
) -> None:
    # The attempt may end as soon as RunPod says TIMED_OUT (no wait for the worker's log): the engine is
    # still importing, and this test is about whose clock stops the run.
    svc: RunpodService = make_service(runpod_stop_wait_s=0)
    job_id = svc.create(max_steps=2, timeout_s=3, **FAST)
    svc.reconciler.tick()
    time.sleep(4)  # longer than the job's time limit, all of it in RunPod's queue (no worker yet)
    svc.reconciler.tick()
    assert svc.job(job_id).status == "running"
    launch()

    job = svc.run_to_end(job_id, limit_s=90)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "execution_timeout", job.error
    fake_job = stack.fake.job(runpod_id_of(svc, job_id))
    assert fake_job.status == "TIMED_OUT" and fake_job.timeout_reason == "execution timeout"
    assert not stack.fake.requests_matching("/cancel/", side="public")
    svc.assert_no_secret()


def test_a_job_no_worker_takes_before_its_ttl_expires_fails_as_queue_expired(
    stack: RunpodStack, make_service: Any
) -> None:
    svc: RunpodService = make_service(unchecked={"runpod_queue_ttl_s": 1})
    job_id = svc.create(max_steps=2, timeout_s=2, max_attempts=2, **FAST)

    job = svc.run_to_end(job_id, limit_s=60)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "queue_expired" and job.error["kind"] == "capacity"
    assert len(svc.attempts(job_id)) == 2  # a capacity failure is retried (bounded)
    for number in (1, 2):
        fake_job = stack.fake.job(runpod_id_of(svc, job_id, number))
        assert (
            fake_job.status == "TIMED_OUT" and fake_job.timeout_reason == "ttl" and fake_job.worker_id is None
        )
    policies = [
        r.json()["policy"] for r in stack.fake.requests_matching("/run", method="POST", side="public")
    ]
    assert policies == [{"executionTimeout": 2000, "ttl": 3000}] * 2
    svc.assert_no_secret()


def test_a_cancel_mid_run_stops_the_worker_and_leaves_a_checkpoint(
    stack: RunpodStack, launch: Any, make_service: Any
) -> None:
    svc: RunpodService = make_service()
    worker = launch()
    job_id = svc.create(max_steps=200, **FAST)
    svc.wait_for_message(job_id, "training loss")
    runpod_id = runpod_id_of(svc, job_id)

    with svc.sessions() as s:
        assert cancel_job(s, owner_id=svc.owner_id, job_id=job_id).status == "cancelling"
    job = svc.run_to_end(job_id, limit_s=60)
    assert job.status == "cancelled", job.error

    (cancel,) = stack.fake.requests_matching(f"/cancel/{runpod_id}", method="POST", side="public")
    assert cancel.status == 200 and stack.fake.job(runpod_id).status == "CANCELLED"
    assert runpod_id in worker.stop_signals_sent  # the worker heard it on its stop channel
    # The engine checkpointed before it stopped: in the store, complete, and known to the service.
    checkpoint = svc.engine_events(job_id, "checkpoint", 1)[-1]
    (result,) = svc.engine_events(job_id, "result", 1)
    assert result["status"] == "cancelled" and result["checkpoint"].endswith(
        f"checkpoint-{checkpoint['step']}"
    )
    assert svc.complete_checkpoints(job_id) == [checkpoint["step"]]
    assert checkpoint["step"] >= max(train_steps(svc, job_id, 1))
    svc.assert_no_secret()


# --- what happens around the run ---------------------------------------------------------------------


def test_a_429_storm_and_a_result_that_expired_unread_neither_fail_nor_strand_the_job(
    stack: RunpodStack, launch: Any, make_service: Any
) -> None:
    stack.fake.result_retention_s = 0.5
    svc: RunpodService = make_service()
    worker = launch()
    job_id = svc.create(max_steps=2, max_attempts=1, **FAST)

    # Submit: every try of the backoff answered 429 -> a capacity refusal; the job waits in OUR queue.
    stack.fake.throttle(len(BACKOFF_S) + 3)
    svc.reconciler.tick()
    assert svc.job(job_id).status == "queued"
    assert svc.sleeps == list(BACKOFF_S)
    assert not stack.fake.jobs
    (refused,) = svc.attempts(job_id)
    assert refused.status == "lost" and "rate limited" in (refused.exit_reason or "")

    # The next tick rides out the rest of the storm and RunPod takes the job (the refusal did not use up
    # the job's only attempt).
    svc.tick_until(lambda: stack.fake.jobs, 30, "the job reaches RunPod")
    assert svc.job(job_id).status == "running"
    runpod_id = runpod_id_of(svc, job_id, 2)

    # A storm while it runs: the polls fail, the job stays running, nothing is lost. (The engine is
    # frozen at its loading_model stage meanwhile: a 2-step run could otherwise end first.)
    freezer = EngineFreezer(stack, worker, lambda e: e.get("stage") == "loading_model")
    svc.wait_for_message(job_id, "Stage loading_model")  # events persisted as they arrive
    engine = freezer.engine()
    stack.fake.throttle(3 * (len(BACKOFF_S) + 1))
    for _ in range(3):
        svc.reconciler.tick()
    assert svc.job(job_id).status == "running"
    os.killpg(engine, signal.SIGCONT)
    throttled = [r for r in stack.fake.requests if r.status == 429]
    assert len(throttled) == (len(BACKOFF_S) + 3) + 3 * (len(BACKOFF_S) + 1)
    assert sum("/status/" in r.path for r in throttled) == 3 * (len(BACKOFF_S) + 1)

    # Then the service stops polling (a restart, a slow loop) until RunPod has forgotten the result.
    stack.fake.wait_for_job(runpod_id, "COMPLETED", timeout=180)
    stack.fake.wait_for(lambda: runpod_id not in stack.fake.jobs, timeout=10)

    job = svc.run_to_end(job_id, limit_s=30)
    assert job.status == "succeeded", job.error
    attempt = svc.attempts(job_id)[1]
    assert attempt.handle.get("expired") is True and attempt.exit_code == 0
    assert stack.fake.requests_matching(f"/status/{runpod_id}")[-1].status == 404
    accepted = [r for r in stack.fake.requests_matching("/run", method="POST") if r.status == 200]
    assert len(accepted) == 1  # one RunPod job: a refused submit never ran twice
    messages = svc.messages(job_id)
    # The tail the service never polled came from the worker's event log in the store.
    assert any("training loss" in m for m in messages) and any("Stage uploading" in m for m in messages)
    assert any("Engine finished: succeeded" in m for m in messages)
    assert job.trained_tokens and job.trained_tokens > 0
    svc.assert_no_secret()


def test_an_adapter_upload_the_store_refuses_fails_the_job_with_that_reason(
    stack: RunpodStack, launch: Any, make_service: Any
) -> None:
    # The worker's store denies writes under adapter/ (a bucket policy), checkpoints still mirror.
    proxy = ReadOnlyPrefixS3(stack.s3_endpoint, denied="/adapter/")
    try:
        svc: RunpodService = make_service()
        options = {**stack.storage_options, "endpoint_url": proxy.url}
        launch(LORAPIPE_STORAGE_OPTIONS=json.dumps(options))
        job_id = svc.create(max_steps=2, max_attempts=1, **FAST)
        job = svc.run_to_end(job_id)
    finally:
        proxy.close()
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "storage_error", job.error
    assert re.match(
        r"uploading \S+ to the object store failed: PermissionError: Access Denied", job.error["message"]
    )
    assert proxy.refused and all("/adapter/" in r for r in proxy.refused)
    assert not any(k.endswith("adapter/manifest.json") for k in svc.objects.list(f"runs/{job_id}"))
    assert svc.complete_checkpoints(job_id) == [2]
    svc.assert_no_secret()
