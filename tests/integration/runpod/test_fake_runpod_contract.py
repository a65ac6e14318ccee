"""The fake RunPod cloud (``tests/support/fake_runpod.py``) against RunPod's documented contract.

First a contract test of the public API, run on both the fake (driving a real ``runpod.serverless.start``
worker) and the runpod SDK's own local test server (``--rp_serve_api``) for what that server implements:
``/run`` then status reaching COMPLETED with the handler's output, ``/runsync``, and how a raised exception
and a returned ``{"error": ...}`` are reported. The local server has no endpoint prefix or auth, answers
``/status`` on POST only and runs the job inside that first status call (``rp_fastapi.py``).

Then fake-only tests, one per knob: progress in status output, timings and result expiry, generator
streams, cancel, execution timeout, TTL, 429 bursts, error answers, worker crash and worker refresh.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_runpod import TERMINAL_STATUSES, FakeRunpod, running_fake

pytestmark = pytest.mark.integration

SUPPORT = Path(__file__).resolve().parents[2] / "support"
WORKER_MODULE = "fake_runpod_worker"


@dataclass
class PublicApi:
    """The client side of one backend: where ``/run`` lives, which headers, how status is asked."""

    base: str
    headers: dict[str, str]
    status_method: str  # RunPod: GET; the SDK's local server: POST only

    def run(self, payload: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}/run", json=payload, headers=self.headers, timeout=30)

    def runsync(self, payload: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}/runsync", json=payload, headers=self.headers, timeout=60)

    def status(self, job_id: str) -> httpx.Response:
        return httpx.request(
            self.status_method, f"{self.base}/status/{job_id}", headers=self.headers, timeout=30
        )

    def wait_terminal(self, job_id: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.status(job_id)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] in TERMINAL_STATUSES or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


def _fake_api(fake: FakeRunpod) -> PublicApi:
    return PublicApi(fake.endpoint_url, {"Authorization": f"Bearer {fake.api_key}"}, "GET")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sdk_local_server(log_path: Path) -> Iterator[PublicApi]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", WORKER_MODULE, "--rp_serve_api"]
    command += ["--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"SDK local server did not start:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield PublicApi(base, {}, "POST")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module", params=["fake", "sdk_local_server"])
def contract_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PublicApi]:
    """The public API of the fake (with one real SDK worker) or of the SDK's local test server."""
    log_dir = tmp_path_factory.mktemp(request.param)
    if request.param == "sdk_local_server":
        yield from _sdk_local_server(log_dir / "server.log")
        return
    with running_fake(log_dir) as fake:
        fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT]).wait_ready()
        yield _fake_api(fake)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeRunpod]:
    with running_fake(tmp_path) as f:
        yield f


# ---------------------------------------------------------------------------- contract (both backends)


def test_run_then_status_completes_with_the_handler_output(contract_api: PublicApi) -> None:
    response = contract_api.run({"input": {"mode": "echo", "value": "hello"}})
    assert response.status_code == 200
    accepted = response.json()
    assert isinstance(accepted["id"], str) and accepted["id"]
    # RunPod answers IN_QUEUE; the SDK's local server says IN_PROGRESS for the same moment.
    assert accepted["status"] in {"IN_QUEUE", "IN_PROGRESS"}

    final = contract_api.wait_terminal(accepted["id"])
    assert final["id"] == accepted["id"]
    assert final["status"] == "COMPLETED"
    assert final["output"] == {"echo": "hello"}


def test_runsync_answers_the_finished_job(contract_api: PublicApi) -> None:
    response = contract_api.runsync({"input": {"mode": "echo", "value": [1, 2]}})
    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETED"
    assert response.json()["output"] == {"echo": [1, 2]}


def test_a_raised_exception_is_failed_with_a_json_string_error(contract_api: PublicApi) -> None:
    job_id = contract_api.run({"input": {"mode": "raise", "message": "boom"}}).json()["id"]
    final = contract_api.wait_terminal(job_id)
    assert final["status"] == "FAILED"
    # The SDK (rp_job.run_job) reports the exception as a JSON document inside a string.
    error = json.loads(final["error"])
    assert error["error_type"] == "<class 'RuntimeError'>"
    assert error["error_message"] == "boom"
    assert "Traceback" in error["error_traceback"]


def test_a_returned_error_key_is_failed(contract_api: PublicApi) -> None:
    job_id = contract_api.run({"input": {"mode": "error", "message": "bad dataset"}}).json()["id"]
    final = contract_api.wait_terminal(job_id)
    assert final["status"] == "FAILED"
    assert final["error"] == "bad dataset"


# ---------------------------------------------------------------------------- fake only


def test_progress_timings_and_result_expiry(fake: FakeRunpod) -> None:
    fake.result_retention_s = 1.0
    api = _fake_api(fake)
    # Submitted before any worker exists, so the queue time (delayTime) covers the worker's start.
    job_id = api.run({"input": {"mode": "sleep", "seconds": 1.2, "steps": 4}}).json()["id"]
    time.sleep(0.3)
    queued = api.status(job_id).json()
    assert queued == {"id": job_id, "status": "IN_QUEUE"}

    worker = fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT])
    fake.wait_for_job(job_id, "IN_PROGRESS")
    fake.wait_for(lambda: fake.job(job_id).progress)
    running = api.status(job_id).json()
    assert running["status"] == "IN_PROGRESS"
    assert running["workerId"] == worker.id
    assert running["output"]["steps"] == 4  # the latest progress_update payload

    final = api.wait_terminal(job_id)
    assert final["status"] == "COMPLETED"
    assert final["output"] == {"slept": 1.2}
    assert final["delayTime"] >= 300
    assert 1200 <= final["executionTime"] < 10_000
    assert [p["step"] for p in fake.job(job_id).progress] == [1, 2, 3, 4]

    # /run results are kept for the retention period after completion, then /status is 404.
    fake.wait_for(lambda: job_id not in fake.jobs, timeout=5)
    assert api.status(job_id).status_code == 404


def test_generator_chunks_come_through_stream_and_aggregate_in_status(fake: FakeRunpod) -> None:
    api = _fake_api(fake)
    fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT], env={"FAKE_WORKER_GENERATOR": "1"})
    job_id = api.run({"input": {"steps": 3, "interval": 0.3}}).json()["id"]
    fake.wait_for(lambda: fake.job(job_id).stream, timeout=20)
    chunks: list[Any] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = httpx.get(f"{fake.endpoint_url}/stream/{job_id}", headers=api.headers).json()
        chunks.extend(body["stream"])
        if body["status"] in TERMINAL_STATUSES:
            break
        time.sleep(0.1)
    # Each chunk is returned once, in order.
    assert chunks == [{"output": {"step": 1}}, {"output": {"step": 2}}, {"output": {"step": 3}}]
    assert api.wait_terminal(job_id)["output"] == [{"step": 1}, {"step": 2}, {"step": 3}]


def test_cancel_stops_the_job_through_the_stop_channel_then_can_stop_the_worker(fake: FakeRunpod) -> None:
    api = _fake_api(fake)
    worker = fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT])
    job_id = api.run({"input": {"mode": "async_sleep", "seconds": 30, "steps": 30}}).json()["id"]
    fake.wait_for_job(job_id, "IN_PROGRESS")
    # Cancel once the handler runs: SDK 1.12.0 drops a stop signal that arrives between its job-take and
    # the start of the job's task ("No in-progress job"), a window a loaded CI machine made seconds long.
    fake.wait_for(lambda: fake.job(job_id).progress, timeout=30)

    response = httpx.post(f"{fake.endpoint_url}/cancel/{job_id}", headers=api.headers)
    assert response.json() == {"id": job_id, "status": "CANCELLED"}
    assert [r.status for r in fake.requests_matching(f"/cancel/{job_id}", method="POST")] == [200]
    # SDK 1.12.0: the stop channel hands the id over and the SDK cancels just that task.
    fake.wait_for(lambda: f"job {job_id} cancelled" in worker.log_text(), timeout=30)
    assert job_id in worker.stop_signals_sent
    assert worker.alive and worker.signals == []

    # The worker lives on and takes the next job; the cancelled one stays CANCELLED.
    next_id = api.run({"input": {"mode": "echo", "value": 1}}).json()["id"]
    assert api.wait_terminal(next_id)["status"] == "COMPLETED"
    assert api.status(job_id).json()["status"] == "CANCELLED"

    # With the knob set, a cancel also stops the worker: SIGTERM, and the SDK then exits on its own.
    fake.cancel_terminates_worker = True
    fake.kill_grace_s = 8
    third = api.run({"input": {"mode": "async_sleep", "seconds": 30, "steps": 30}}).json()["id"]
    fake.wait_for_job(third, "IN_PROGRESS")
    fake.wait_for(lambda: fake.job(third).progress, timeout=30)
    httpx.post(f"{fake.endpoint_url}/cancel/{third}", headers=api.headers)
    assert worker.wait_exit(8) == 0
    assert worker.signals == ["SIGTERM"]

    # Recorded requests keep bodies but never the keys.
    recorded = json.dumps([r.__dict__ for r in fake.requests])
    assert fake.api_key not in recorded and fake.worker_api_key not in recorded
    assert {r.headers["authorization"] for r in fake.requests} == {"<redacted>"}


@pytest.mark.parametrize("mode", ["sleep", "async_sleep"])
def test_execution_timeout_times_out_and_stops_the_worker(fake: FakeRunpod, mode: str) -> None:
    fake.min_execution_timeout_ms = 0  # the documented 5 s minimum would only make this test slower
    # A plain def handler never collects the stop, so it waits out the lead and the grace: keep both short.
    fake.stop_signal_lead_s, fake.kill_grace_s = (1.0, 1.0) if mode == "sleep" else (3.0, 5.0)
    api = _fake_api(fake)
    worker = fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT])
    worker.wait_ready()
    payload = {"input": {"mode": mode, "seconds": 30, "steps": 30}, "policy": {"executionTimeout": 1500}}
    job_id = api.run(payload).json()["id"]

    final = api.wait_terminal(job_id)
    assert final["status"] == "TIMED_OUT"
    assert 1500 <= final["executionTime"] < 3000
    assert fake.job(job_id).timeout_reason == "execution timeout"
    code = worker.wait_exit(10)
    if mode == "sleep":
        # A plain def handler cannot be interrupted: SIGTERM only stops the SDK taking jobs, so SIGKILL.
        assert worker.signals == ["SIGTERM", "SIGKILL"] and code == -9
    else:
        # An async handler is cancelled through the stop channel and the worker exits within the grace.
        assert worker.signals == ["SIGTERM"] and code == 0
        assert f"job {job_id} cancelled" in worker.log_text()
    assert api.status(job_id).json()["status"] == "TIMED_OUT"  # a late result does not overwrite it


def test_ttl_expiry_in_the_queue(fake: FakeRunpod) -> None:
    fake.min_ttl_ms = 0
    api = _fake_api(fake)
    job_id = api.run({"input": {}, "policy": {"ttl": 300}}).json()["id"]
    final = api.wait_terminal(job_id, timeout=5)
    assert final["status"] == "TIMED_OUT"
    assert final["delayTime"] >= 300
    assert fake.job(job_id).timeout_reason == "ttl"

    fake.ttl_expiry = "delete"
    gone = api.run({"input": {}, "policy": {"ttl": 300}}).json()["id"]
    fake.wait_for(lambda: gone not in fake.jobs, timeout=5)
    assert api.status(gone).status_code == 404


def test_a_429_burst_answers_the_next_requests_then_recovers(fake: FakeRunpod) -> None:
    api = _fake_api(fake)
    fake.throttle(2)
    assert api.run({"input": {}}).status_code == 429
    assert httpx.get(f"{fake.endpoint_url}/health", headers=api.headers).status_code == 429
    accepted = api.run({"input": {}})
    assert accepted.status_code == 200
    assert [r.status for r in fake.requests_matching(side="public")] == [429, 429, 200]
    assert len(fake.jobs) == 1


def test_public_api_errors_cancel_retry_purge_health(fake: FakeRunpod) -> None:
    api = _fake_api(fake)
    base = fake.endpoint_url
    assert httpx.post(f"{base}/run", json={"input": {}}).status_code == 401
    assert httpx.post(f"{base}/run", json={"input": {}}, headers={"Authorization": "nope"}).status_code == 401
    raw_key = {"Authorization": fake.api_key}  # the docs' curl examples send the key without "Bearer"
    assert httpx.post(f"{base}/run", json={"input": {}}, headers=raw_key).status_code == 200
    assert httpx.get(f"{fake.url}/v2/other-endpoint/health", headers=raw_key).status_code == 404
    assert api.status("no-such-job").status_code == 404
    assert api.run({"prompt": "no input key"}).status_code == 400
    assert api.run({"input": {}, "policy": {"executionTimeout": 1000}}).status_code == 400  # under 5 s
    assert api.run({"input": {}, "policy": {"ttl": 5000}}).status_code == 400  # under 10 s

    queued = api.run({"input": {}}).json()["id"]
    assert httpx.post(f"{base}/cancel/{queued}", headers=api.headers).json() == {
        "id": queued,
        "status": "CANCELLED",
    }
    assert (
        httpx.post(f"{base}/retry/{queued}", headers=api.headers).status_code == 400
    )  # not FAILED/TIMED_OUT
    health = httpx.get(f"{base}/health", headers=api.headers).json()
    assert health == {
        "jobs": {"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 1, "retried": 0},
        "workers": {"idle": 0, "running": 0},
    }
    purged = httpx.post(f"{base}/purge-queue", headers=api.headers).json()
    assert purged == {"removed": 1, "status": "completed"}
    assert api.status(queued).json()["status"] == "CANCELLED"  # purge leaves ended jobs alone


def test_webhook_gets_the_status_body_and_is_retried(fake: FakeRunpod) -> None:
    received: list[dict[str, Any]] = []
    answers = [500, 200]

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(answers.pop(0))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fake.webhook_retry_delay_s = 0.1  # documented: 10 s between the 3 attempts
        api = _fake_api(fake)
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        job_id = api.run({"input": {}, "webhook": hook}).json()["id"]
        httpx.post(f"{fake.endpoint_url}/cancel/{job_id}", headers=api.headers)
        fake.wait_for(lambda: len(fake.webhook_deliveries) == 2, timeout=5)
    finally:
        server.shutdown()
    assert [d.status for d in fake.webhook_deliveries] == [500, 200]
    assert received[-1]["id"] == job_id and received[-1]["status"] == "CANCELLED"


# "hang" (IN_PROGRESS until the execution timeout) is the timeout test above with a dead worker.
@pytest.mark.parametrize("policy", ["requeue", "fail"])
def test_worker_crash(fake: FakeRunpod, tmp_path: Path, policy: str) -> None:
    fake.on_worker_crash = policy  # type: ignore[assignment]
    api = _fake_api(fake)
    worker = fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT], restart=policy == "requeue")
    marker = tmp_path / "crashed-once"
    payload = {"input": {"mode": "exit", "code": 3, "once_marker": str(marker), "value": "second try"}}
    job_id = api.run(payload).json()["id"]
    fake.wait_for(lambda: worker.exit_codes, timeout=20)
    assert worker.exit_codes[0] == 3

    final = api.wait_terminal(job_id, timeout=20)
    if policy == "requeue":
        # Back in the queue, taken by the relaunched worker, which then succeeds.
        assert final["status"] == "COMPLETED" and final["output"] == {"echo": "second try"}
        assert fake.job(job_id).retries == 1 and worker.launches == 2
        assert httpx.get(f"{fake.endpoint_url}/health", headers=api.headers).json()["jobs"]["retried"] == 1
    else:
        assert final["status"] == "FAILED" and "exited with code 3" in final["error"]


def test_refresh_worker_gets_a_fresh_worker(fake: FakeRunpod) -> None:
    api = _fake_api(fake)
    worker = fake.launch_worker(WORKER_MODULE, pythonpath=[SUPPORT])
    job_id = api.run({"input": {"mode": "refresh", "value": 7}}).json()["id"]
    final = api.wait_terminal(job_id)
    assert final["status"] == "COMPLETED" and final["output"] == {"echo": 7}
    assert fake.job(job_id).stop_pod
    # The SDK exits after a refresh_worker job; the platform starts the worker again.
    fake.wait_for(lambda: worker.launches == 2, timeout=15)
    assert worker.signals == ["SIGTERM"] and worker.exit_codes == [0]
    worker.wait_ready()
