"""A fake RunPod serverless cloud on 127.0.0.1, driving the REAL ``runpod`` SDK worker runtime.

One :class:`FakeRunpod` serves both sides of one queue-based endpoint from a uvicorn thread:

* the public endpoint API a client uses, under ``/v2/{endpoint_id}``: ``POST /run``, ``POST /runsync``,
  ``GET|POST /status/{id}``, ``GET|POST /stream/{id}``, ``POST /cancel/{id}``, ``POST /retry/{id}``,
  ``POST /purge-queue``, ``GET /health``;
* the internal API that ``runpod.serverless.start`` (runpod-python 1.12.0) talks to when its
  ``RUNPOD_WEBHOOK_*`` variables point here: job-take, job-stop (the per-job stop channel), job-done
  (results and ``progress_update`` posts), job-stream (generator chunks) and ping.

Workers are real subprocesses (``python -m <module>``) launched by :meth:`FakeRunpod.launch_worker`, with
their stdout and stderr in a log file. Every request is recorded (:attr:`FakeRunpod.requests`) with its
``Authorization`` value redacted, so tests can assert that a call reached the fake and grep bodies for
secrets.

Quick use::

    with FakeRunpod.start(log_dir=tmp_path) as fake:
        worker = fake.launch_worker("my_handler_module", pythonpath=[src_dir])
        r = httpx.post(f"{fake.endpoint_url}/run", json={"input": {...}},
                       headers={"Authorization": fake.api_key})
        job = fake.wait_for_job(r.json()["id"], "COMPLETED")

What it follows, and where that was read
----------------------------------------
RunPod docs, Serverless > Endpoints > Send API requests (``runpod/docs`` ``serverless/endpoints/
send-requests.mdx``) and > Operations (``operations.mdx``):

* ``/run`` answers ``{"id", "status": "IN_QUEUE"}``; the body must carry ``input`` (else 400 here); payload
  limit 10 MB for ``/run`` and 20 MB for ``/runsync`` (400 here: the docs give no status code).
* ``/status`` answers ``{"id", "status", "delayTime", "executionTime", "output"?, ...}`` with times in ms;
  ``delayTime`` is time in the queue, ``executionTime`` time on a worker. While ``IN_PROGRESS``,
  ``output`` is the latest ``progress_update`` payload (runpod-python#105, and the ``/status`` body shown in
  runpod-python#250). ``workerId`` is added once a worker took the job.
* Results of ``/run`` jobs are kept 30 minutes after completion, ``/runsync`` 1 minute; then ``/status``
  answers 404 (:attr:`FakeRunpod.result_retention_s`, :attr:`FakeRunpod.runsync_result_retention_s`).
* ``/runsync?wait=ms`` waits 1 000-300 000 ms (default 90 000) and answers the status body.
* ``/cancel`` "stops in-progress jobs, removes queued jobs before they start, and returns immediately with
  the canceled status": ``{"id", "status": "CANCELLED"}``.
* ``/retry`` re-queues a ``FAILED`` or ``TIMED_OUT`` job with the same id and input and removes its output
  (400 here for any other state).
* ``/purge-queue`` removes queued jobs only and answers ``{"removed": n, "status": "completed"}``.
* ``/health`` answers ``{"jobs": {"completed", "failed", "inProgress", "inQueue", "retried"},
  "workers": {"idle", "running"}}``.
* ``policy.executionTimeout`` (ms, default 600 000, minimum 5 000, maximum 7 days) and ``policy.ttl`` (ms,
  default 86 400 000, minimum 10 000, maximum 7 days); values out of range get a 400 here (runpod/docs
  PR #525 cites the server's validation). Tests may lower :attr:`FakeRunpod.min_execution_timeout_ms` and
  :attr:`FakeRunpod.min_ttl_ms` to stay fast.
* ``webhook``: POSTed the ``/status`` body when the job ends, retried up to 2 more times 10 s apart
  (:attr:`FakeRunpod.webhook_retry_delay_s`); deliveries are in :attr:`FakeRunpod.webhook_deliveries`.
* Auth: the docs' examples send the raw key (``authorization: $RUNPOD_API_KEY``) and elsewhere
  ``Bearer <key>``; both are accepted, anything else is 401. Unknown job or endpoint: 404.

RunPod docs, Serverless > Endpoints > Job states (``job-states.mdx``): ``IN_QUEUE``, ``IN_PROGRESS``,
``COMPLETED``, ``FAILED``, ``CANCELLED``, ``TIMED_OUT`` ("the job either expired before it was picked up by a
worker or the worker failed to report back before reaching the timeout threshold").

runpod-python 1.12.0 source (``runpod/serverless/modules``):

* ``rp_job.py``: job-take is ``GET $RUNPOD_WEBHOOK_GET_JOB`` with ``$ID`` replaced by the worker id and
  ``&job_in_progress=0|1`` appended; 204 means no job; the job is a JSON object with ``id`` and ``input``.
  The stop channel is the same URL with ``/job-take/`` replaced by ``/job-stop/``, long-polled, answering
  ``{"jobsToStop": [ids]}`` or 204; ``rp_scale.py`` then cancels just that job's asyncio task (an ``async``
  handler gets ``CancelledError``; a plain ``def`` handler cannot be interrupted and runs to its end, after
  which the result is not sent).
* ``rp_http.py``: results go to ``RUNPOD_WEBHOOK_POST_OUTPUT`` and generator chunks to
  ``RUNPOD_WEBHOOK_POST_STREAM``, with ``$RUNPOD_POD_ID`` replaced by the worker id and ``$ID`` by the job
  id, ``&isStream=true|false`` appended, the JSON sent as a form-encoded body. A final post is
  ``{"output": ...}`` or ``{"error": "..."}`` (a handler exception becomes a JSON *string* with
  ``error_type``, ``error_message``, ``error_traceback``...; a returned ``{"error": ...}`` is popped out of
  the output), plus ``"stopPod": true`` when ``refresh_worker`` is set in ``start()`` or returned by the
  handler. The SDK exits by itself only in the first case, so a ``stopPod`` makes the fake stop the worker
  (SIGTERM) and launch it again, as the platform refreshes a worker. ``rp_progress.py`` posts
  ``{"status": "IN_PROGRESS", "output": progress}`` to the same job-done URL from a thread.
* ``rp_ping.py``: ``GET $RUNPOD_WEBHOOK_PING`` every ``RUNPOD_PING_INTERVAL`` ms with ``job_id`` and
  ``runpod_version``, only when ``RUNPOD_AI_API_KEY`` and ``RUNPOD_POD_ID`` are set.
* ``http_client.py``: the worker authenticates with the raw ``RUNPOD_AI_API_KEY`` in ``Authorization``
  (or the key in ``~/.runpod/config.toml`` if that file exists, which is why workers get their own HOME).
* ``rp_scale.py``: SIGTERM only sets a shutdown flag: the worker stops taking jobs, stops polling the stop
  channel, and exits once its running job has finished.
* ``rp_fitness.py`` / ``rp_system_fitness.py``: before taking jobs the worker checks the host (4 GB free
  memory, 10 % free disk, a TCP connection to 8.8.8.8:53, the GPU) and exits with code 1 if one fails.
  :meth:`FakeRunpod.launch_worker` skips them by default (``RUNPOD_SKIP_AUTO_SYSTEM_CHECKS``,
  ``RUNPOD_SKIP_GPU_CHECK``) because they test the machine, not the contract, and fail offline.

Behaviours the docs leave open, chosen here and switchable
----------------------------------------------------------
* Execution timeout (:attr:`execution_timeout_status`, default ``"TIMED_OUT"``): job-states.mdx says
  TIMED_OUT, PR #525 says "marked as failed and the worker is stopped". The fake marks the job, puts it on
  the worker's stop channel (the SDK says the server signals stops "when it is cancelled or times out"),
  and stops the worker like a container: SIGTERM to the worker's main process, then SIGKILL to its whole
  process group after :attr:`kill_grace_s` (default 10 s, Docker's ``stop`` default, since RunPod runs
  workers as containers and documents no grace period of its own). The SIGTERM waits until the worker
  collected the stop (plus 0.5 s) or :attr:`stop_signal_lead_s` (3 s) passed, whichever is first: the
  SDK stops polling the stop channel on SIGTERM, so a SIGTERM first would leave even an ``async`` handler
  running until SIGKILL. RunPod does not document its order. A plain ``def`` handler blocks the SDK's
  event loop, never sees the stop, and is SIGKILLed.
* TTL (:attr:`ttl_expiry`): the TTL counts from submission. A job still queued when it runs out becomes
  ``TIMED_OUT`` (job-states.mdx; default ``"timed_out"``) or vanishes (404; ``"delete"``, PR #525's "the job's
  data is deleted"). A running job whose TTL runs out is timed out like an execution timeout.
* Cancel (:attr:`cancel_terminates_worker`, default False): the job is CANCELLED at once and its id goes
  on the worker's stop channel, which is what SDK 1.12.0 implements (per-job stop, "leaving the worker's
  other jobs running"); the worker lives on. Set True to also stop the worker (SIGTERM, then SIGKILL, as
  for a timeout), as a platform that stops the whole container would.
* Worker crash, i.e. the process exits while its job is IN_PROGRESS (:attr:`on_worker_crash`): ``"requeue"``
  (default: the job goes back to IN_QUEUE and ``/health`` counts it as retried; runpod-workers/worker-vllm#29
  reports crashed jobs being retried over and over), ``"fail"`` (FAILED with an ``error`` naming the exit
  code) or ``"hang"`` (stays IN_PROGRESS until its execution timeout; job-states.mdx: "the worker failed to
  report back").
* Posts for a job that already ended (a progress thread racing the result, a result after a cancel or a
  timeout) are recorded in :attr:`FakeJob.late_posts` and change nothing. runpod-python#250 reports the real
  platform once let such a late progress post turn a finished job back to IN_PROGRESS; clients should
  treat terminal states as final either way.

Simplified
----------
One endpoint; no autoscaling, cold starts, idle timeout or billing: workers run only when a test launches
them (``restart=True``, or a ``stopPod`` from ``refresh_worker``, relaunches one on the same id). Crashes are
seen from the process exit, not from missed pings. job-take and job-stop hold the request at most
:attr:`job_take_wait_s` / :attr:`job_stop_wait_s`; the batch job-take hands out at most one job, and a worker
gets a new job only after it posted the previous result or said it holds none (``job_in_progress=0``).
``/stream`` answers at once with the chunks not yet returned. An ended job is deleted (404) only when its
result retention runs out: PR #525's "TTL also deletes finished jobs" is not applied. Purged jobs are
deleted (404), not CANCELLED: the docs only say they are removed. Rate limits exist only as the explicit
:meth:`FakeRunpod.throttle` burst. Not served: ``/status?ttl=``, ``/openai/*``, ``/requests``, realtime.
Error bodies (401/404/429/400) are the fake's own wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IN_QUEUE: Final = "IN_QUEUE"
IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
TIMED_OUT: Final = "TIMED_OUT"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})

# Documented policy defaults and bounds (send-requests.mdx, "Execution policies").
DEFAULT_EXECUTION_TIMEOUT_MS = 600_000
DEFAULT_TTL_MS = 86_400_000
MAX_POLICY_MS = 7 * 24 * 3600 * 1000
RUN_PAYLOAD_LIMIT = 10 * 1024 * 1024
RUNSYNC_PAYLOAD_LIMIT = 20 * 1024 * 1024

WORKER_ROUTES = frozenset({"job-take", "job-take-batch", "job-stop", "job-done", "job-stream", "ping"})
_TICK_S = 0.05


@dataclass
class RecordedRequest:
    """One HTTP request the fake received (``Authorization`` values replaced by ``<redacted>``)."""

    at: float  # time.time()
    side: Literal["public", "worker", "other"]
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    status: int | None = None  # the status the fake answered; None while in flight

    def json(self) -> Any:
        """The body parsed as JSON (worker posts are JSON sent as a form-encoded body)."""
        return json.loads(self.body)


@dataclass
class WebhookDelivery:
    """One attempt to POST a finished job's status body to its ``webhook``."""

    job_id: str
    url: str
    body: dict[str, Any]
    attempt: int
    status: int | None
    error: str | None


@dataclass
class FakeJob:
    """One job as the fake holds it; read its fields from tests (times are ``time.monotonic()``)."""

    id: str
    input: Any
    execution_timeout_ms: int
    ttl_ms: int
    webhook: str | None
    s3_config: Any
    sync: bool
    submitted_at: float
    status: str = IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    worker_id: str | None = None
    output: Any = None
    has_output: bool = False
    error: Any = None
    progress: list[Any] = field(default_factory=list)  # every progress_update payload, in order
    stream: list[Any] = field(default_factory=list)  # every generator chunk, as posted
    stream_cursor: int = 0  # chunks already returned by /stream
    retries: int = 0  # re-queued after a worker crash or /retry
    stop_pod: bool = False  # the final result asked for a worker refresh
    timeout_reason: str | None = None  # "execution timeout" or "ttl" when timed out
    late_posts: list[dict[str, Any]] = field(default_factory=list)  # posts after the job had ended

    def status_body(self, now: float | None = None) -> dict[str, Any]:
        """The ``/status`` answer for this job."""
        now = time.monotonic() if now is None else now
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.started_at is not None:
            body["delayTime"] = _ms(self.started_at - self.submitted_at)
            body["executionTime"] = _ms((self.finished_at or now) - self.started_at)
            body["workerId"] = self.worker_id
        elif self.status != IN_QUEUE:
            # Ended without ever running (cancelled or timed out in the queue): all of it was delay.
            body["delayTime"] = _ms((self.finished_at or now) - self.submitted_at)
            body["executionTime"] = 0
        if self.has_output:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass
class FakeWorker:
    """A worker the fake knows: a subprocess it launched, or any SDK worker that called job-take."""

    id: str
    command: list[str] | None
    env: dict[str, str] | None
    cwd: str | None
    log_path: Path | None
    restart: bool
    process: subprocess.Popen[bytes] | None = None
    launches: int = 0
    exit_codes: list[int] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)  # "SIGTERM"/"SIGKILL" the fake sent, in order
    stop_signals_sent: list[str] = field(default_factory=list)  # job ids handed out on the stop channel
    pending_stops: list[str] = field(default_factory=list)
    current_job_id: str | None = None
    jobs_taken: list[str] = field(default_factory=list)
    pings: int = 0
    last_ping_job_ids: str | None = None
    stop_pod_requested: bool = False
    terminating: bool = False  # SIGTERM sent to the current process
    sigterm_at: float | None = None  # when the fake will SIGTERM it (after the stop-channel lead)
    retired: bool = False  # stopped on purpose: never relaunched
    kill_deadline: float | None = None
    exit_handled: bool = True
    ready_event: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        """Whether the current worker process is running."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until this worker (its current launch) asked for a job; fail with its log otherwise."""
        if not self.ready_event.wait(timeout):
            raise TimeoutError(
                f"worker {self.id} did not ask for a job in {timeout} s; log:\n{self.log_text()}"
            )

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the current process to end and return its exit code (negative: killed by a signal)."""
        if self.process is None:
            raise RuntimeError(f"worker {self.id} has no process")
        return self.process.wait(timeout)

    def log_text(self) -> str:
        """Everything the worker wrote to stdout and stderr so far, all launches."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class FakeRunpod:
    """The fake cloud. Create it with :meth:`start`; see the module docstring for the contract.

    Knobs are plain attributes, read at the moment they apply; set them before the event they govern.
    """

    def __init__(
        self,
        *,
        endpoint_id: str = "fake-endpoint",
        api_key: str | None = None,
        worker_api_key: str | None = None,
        log_dir: str | Path | None = None,
    ) -> None:
        self.endpoint_id = endpoint_id
        self.api_key = api_key or f"rpa_FAKE{uuid.uuid4().hex}"
        # The worker gets its own key, as on RunPod, so a test can tell which side leaked which.
        self.worker_api_key = worker_api_key or f"rpw_FAKE{uuid.uuid4().hex}"
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="fake-runpod-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)

        # --- knobs (see the module docstring for the documented behaviour behind each) ---
        self.result_retention_s: float = 30 * 60
        self.runsync_result_retention_s: float = 60
        self.default_execution_timeout_ms: int = DEFAULT_EXECUTION_TIMEOUT_MS
        self.default_ttl_ms: int = DEFAULT_TTL_MS
        self.min_execution_timeout_ms: int = 5_000
        self.min_ttl_ms: int = 10_000
        self.execution_timeout_status: Literal["TIMED_OUT", "FAILED"] = TIMED_OUT
        self.ttl_expiry: Literal["timed_out", "delete"] = "timed_out"
        self.cancel_terminates_worker: bool = False
        self.on_worker_crash: Literal["requeue", "fail", "hang"] = "requeue"
        self.kill_grace_s: float = 10.0
        self.stop_signal_lead_s: float = 3.0
        # Short holds: they only bound how fast an idle worker notices SIGTERM (it exits after its
        # current poll), at the price of a few more polls a second.
        self.job_take_wait_s: float = 0.5
        self.job_stop_wait_s: float = 0.5
        self.webhook_retry_delay_s: float = 10.0
        self.webhook_attempts: int = 3

        self._lock = threading.RLock()
        self._jobs: dict[str, FakeJob] = {}
        self._queue: list[str] = []
        self._workers: dict[str, FakeWorker] = {}
        self._requests: list[RecordedRequest] = []
        self._webhooks: list[WebhookDelivery] = []
        self._throttle_left = 0
        self._retried_total = 0
        self._counts = {COMPLETED: 0, FAILED: 0}

        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._monitor_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        *,
        endpoint_id: str = "fake-endpoint",
        api_key: str | None = None,
        worker_api_key: str | None = None,
        log_dir: str | Path | None = None,
    ) -> FakeRunpod:
        """Start a fake on 127.0.0.1 (a free port) and return it; :meth:`stop` (or ``with``) ends it."""
        fake = cls(endpoint_id=endpoint_id, api_key=api_key, worker_api_key=worker_api_key, log_dir=log_dir)
        fake._serve()
        return fake

    def _serve(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            _RecordingMiddleware(self._build_app(), self),
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._server_thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="fake-runpod-http", daemon=True
        )
        self._server_thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._server_thread.is_alive():
                raise RuntimeError("the fake RunPod HTTP server did not start")
            time.sleep(0.01)
        self._monitor_thread = threading.Thread(target=self._monitor, name="fake-runpod-monitor", daemon=True)
        self._monitor_thread.start()

    def stop(self, grace_s: float = 3.0) -> None:
        """Stop every worker (SIGTERM, then SIGKILL of its process group after ``grace_s``) and the server."""
        with self._lock:
            workers = [w for w in self._workers.values() if w.process is not None]
            for worker in workers:
                worker.retired = True
                if worker.alive:
                    self._signal(worker, signal.SIGTERM)
        # All at once, so that n workers cost one grace period, not n.
        deadline = time.monotonic() + grace_s
        for worker in workers:
            assert worker.process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            assert worker.process is not None
            if worker.process.poll() is None:
                with self._lock:
                    self._signal(worker, signal.SIGKILL)
                worker.process.wait(10)
            with self._lock:
                if not worker.exit_handled:
                    worker.exit_handled = True
                    worker.exit_codes.append(worker.process.returncode)
            # Whatever the worker left behind in its group (the SDK's ping process) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.process.pid, signal.SIGKILL)
        self._stopping.set()
        if self._monitor_thread is not None:
            self._monitor_thread.join(5)
        if self._server is not None:
            self._server.should_exit = True
        if self._server_thread is not None:
            self._server_thread.join(10)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> FakeRunpod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ public helpers

    @property
    def endpoint_url(self) -> str:
        """``{url}/v2/{endpoint_id}``: the base a client appends ``/run``, ``/status/{id}``... to."""
        return f"{self.url}/v2/{self.endpoint_id}"

    @property
    def jobs(self) -> dict[str, FakeJob]:
        """A snapshot of the jobs still held (expired ones are gone), by id."""
        with self._lock:
            return dict(self._jobs)

    @property
    def workers(self) -> dict[str, FakeWorker]:
        """A snapshot of the workers the fake knows, by id."""
        with self._lock:
            return dict(self._workers)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """A snapshot of every webhook attempt, in order."""
        with self._lock:
            return list(self._webhooks)

    def requests_matching(
        self, path_contains: str = "", *, method: str | None = None, side: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests whose path contains ``path_contains`` (and with that method / side)."""
        return [
            r
            for r in self.requests
            if path_contains in r.path
            and (method is None or r.method == method.upper())
            and (side is None or r.side == side)
        ]

    def job(self, job_id: str) -> FakeJob:
        """The job with this id (KeyError when unknown or expired)."""
        with self._lock:
            return self._jobs[job_id]

    def wait_for_job(self, job_id: str, *statuses: str, timeout: float = 20.0) -> FakeJob:
        """Wait until the job is in one of ``statuses`` (default: any terminal one) and return it."""
        wanted = set(statuses) or set(TERMINAL_STATUSES)
        self.wait_for(lambda: (j := self._jobs.get(job_id)) is not None and j.status in wanted, timeout)
        return self.job(job_id)

    def wait_for(
        self, predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05
    ) -> object:
        """Poll ``predicate`` (under the fake's lock) until it is truthy; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met in {timeout} s; jobs: {self._describe_jobs()}")
            time.sleep(interval)

    def throttle(self, count: int) -> None:
        """Answer the next ``count`` public requests with 429 Too Many Requests."""
        with self._lock:
            self._throttle_left = count

    def worker_env(self, worker_id: str, *, ping_interval_ms: int = 10_000) -> dict[str, str]:
        """The RunPod variables a worker needs to talk to this fake (what RunPod sets in a worker)."""
        base = self.endpoint_url
        return {
            # The SDK substitutes $ID (job-take) and $RUNPOD_POD_ID / $ID (results) itself and appends
            # "&...", so each URL already carries a query string, as RunPod's do.
            "RUNPOD_WEBHOOK_GET_JOB": f"{base}/job-take/$ID?gpu=FAKE",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/job-done/$RUNPOD_POD_ID/$ID?gpu=FAKE",
            "RUNPOD_WEBHOOK_POST_STREAM": f"{base}/job-stream/$RUNPOD_POD_ID/$ID?gpu=FAKE",
            "RUNPOD_WEBHOOK_PING": f"{base}/ping/$RUNPOD_POD_ID?gpu=FAKE",
            "RUNPOD_PING_INTERVAL": str(ping_interval_ms),
            "RUNPOD_AI_API_KEY": self.worker_api_key,
            "RUNPOD_POD_ID": worker_id,
            "RUNPOD_POD_HOSTNAME": f"{worker_id}-fakehost",
            "RUNPOD_ENDPOINT_ID": self.endpoint_id,
        }

    def launch_worker(
        self,
        module: str | None = None,
        *,
        code: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        pythonpath: Sequence[str | Path] = (),
        worker_id: str | None = None,
        restart: bool = False,
        cwd: str | Path | None = None,
        isolate_home: bool = True,
        skip_fitness_checks: bool = True,
        ping_interval_ms: int = 10_000,
        python: str = sys.executable,
    ) -> FakeWorker:
        """Start ``python -m module`` (or ``python -c code``) as a RunPod worker of this endpoint.

        ``env`` is added last (it wins); inherited ``RUNPOD_*`` variables are dropped first. ``pythonpath``
        is prepended to ``PYTHONPATH``. ``isolate_home`` gives the worker its own HOME so a developer's
        ``~/.runpod/config.toml`` key cannot replace the worker key. ``skip_fitness_checks`` sets
        ``RUNPOD_SKIP_AUTO_SYSTEM_CHECKS`` and ``RUNPOD_SKIP_GPU_CHECK``: SDK 1.12.0 otherwise checks the
        host before taking jobs (4 GB free memory, 10 % free disk, a TCP connection to 8.8.8.8:53, the GPU)
        and exits with code 1 on a busy or offline test machine. ``restart`` relaunches the worker
        (same id) whenever its process ends, as the platform replaces a dead worker. Output goes to
        ``worker.log_path``. Returns at once; use ``worker.wait_ready()``.
        """
        if (module is None) == (code is None):
            raise ValueError("give exactly one of module or code")
        worker_id = worker_id or f"fakepod-{uuid.uuid4().hex[:12]}"
        command = [python, *(["-m", module] if module is not None else ["-c", code or ""]), *args]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
        full_env.update(self.worker_env(worker_id, ping_interval_ms=ping_interval_ms))
        full_env["PYTHONUNBUFFERED"] = "1"
        if skip_fitness_checks:
            full_env["RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"] = "true"
            full_env["RUNPOD_SKIP_GPU_CHECK"] = "true"
        if isolate_home:
            home = self.log_dir / f"{worker_id}-home"
            home.mkdir(parents=True, exist_ok=True)
            full_env["HOME"] = str(home)
        if pythonpath:
            parts = [str(p) for p in pythonpath]
            if full_env.get("PYTHONPATH"):
                parts.append(full_env["PYTHONPATH"])
            full_env["PYTHONPATH"] = os.pathsep.join(parts)
        full_env.update(env or {})
        worker = FakeWorker(
            id=worker_id,
            command=command,
            env=full_env,
            cwd=str(cwd) if cwd is not None else None,
            log_path=self.log_dir / f"{worker_id}.log",
            restart=restart,
        )
        with self._lock:
            if worker_id in self._workers:
                raise ValueError(f"worker {worker_id} exists")
            self._workers[worker_id] = worker
            self._spawn(worker)
        return worker

    def stop_worker(self, worker: FakeWorker | str, grace_s: float | None = None) -> int | None:
        """Stop a worker on purpose (never relaunched): SIGTERM, SIGKILL to its group after the grace.

        Returns the exit code, or None when it had no process.
        """
        with self._lock:
            w = self._workers[worker] if isinstance(worker, str) else worker
            w.retired = True
            process = w.process
            if process is None:
                return None
            if process.poll() is None:
                self._signal(w, signal.SIGTERM)
        grace = self.kill_grace_s if grace_s is None else grace_s
        try:
            return process.wait(grace)
        except subprocess.TimeoutExpired:
            with self._lock:
                self._signal(w, signal.SIGKILL)
            return process.wait(10)

    # ------------------------------------------------------------------ worker processes

    def _spawn(self, worker: FakeWorker) -> None:
        assert worker.command is not None and worker.log_path is not None
        worker.launches += 1
        worker.ready_event = threading.Event()
        worker.terminating = False
        worker.sigterm_at = None
        worker.kill_deadline = None
        worker.exit_handled = False
        worker.current_job_id = None
        worker.pending_stops.clear()
        with worker.log_path.open("ab") as log:
            log.write(f"--- fake-runpod: launch {worker.launches} of worker {worker.id} ---\n".encode())
            log.flush()
            # A session of its own makes the worker a process group, so SIGKILL can take its children
            # (the SDK's ping process, a training subprocess) with it, as killing a container does.
            worker.process = subprocess.Popen(
                worker.command,
                env=worker.env,
                cwd=worker.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _signal(self, worker: FakeWorker, sig: signal.Signals) -> None:
        """SIGTERM goes to the main process only (Docker's ``stop``); SIGKILL to the whole group."""
        process = worker.process
        if process is None:
            return
        worker.signals.append(sig.name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sig == signal.SIGKILL:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.send_signal(sig)
        if sig == signal.SIGTERM:
            worker.terminating = True

    def _terminate(self, worker: FakeWorker, now: float, lead_s: float = 0.0) -> None:
        """Stop the worker as the platform stops a container: SIGTERM after ``lead_s``, SIGKILL after
        the grace. The lead lets the worker collect a pending stop first (see ``_job_stop``)."""
        if worker.alive and not worker.terminating:
            at = now + lead_s
            worker.sigterm_at = at if worker.sigterm_at is None else min(worker.sigterm_at, at)

    # ------------------------------------------------------------------ monitor

    def _monitor(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception as exc:  # the monitor must outlive a bug in one tick, and say so
                print(f"fake-runpod monitor error: {exc!r}", file=sys.stderr)
            time.sleep(_TICK_S)

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for job in list(self._jobs.values()):
                if job.status == IN_QUEUE and now >= job.submitted_at + job.ttl_ms / 1000:
                    self._expire_in_queue(job, now)
                elif job.status == IN_PROGRESS:
                    assert job.started_at is not None
                    if now >= job.started_at + job.execution_timeout_ms / 1000:
                        self._time_out(job, now, "execution timeout")
                    elif now >= job.submitted_at + job.ttl_ms / 1000:
                        self._time_out(job, now, "ttl")
                if job.expires_at is not None and now >= job.expires_at:
                    self._jobs.pop(job.id, None)
            for worker in self._workers.values():
                self._check_process(worker, now)

    def _check_process(self, worker: FakeWorker, now: float) -> None:
        process = worker.process
        if process is None or worker.exit_handled:
            return
        code = process.poll()
        if code is None:
            if worker.sigterm_at is not None and now >= worker.sigterm_at and not worker.terminating:
                worker.sigterm_at = None
                self._signal(worker, signal.SIGTERM)
                worker.kill_deadline = now + self.kill_grace_s
            elif worker.kill_deadline is not None and now >= worker.kill_deadline:
                worker.kill_deadline = None
                self._signal(worker, signal.SIGKILL)
            return
        worker.exit_handled = True
        worker.exit_codes.append(code)
        # The container is gone: nothing the worker started outlives it (the SDK's ping process would).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        job = self._jobs.get(worker.current_job_id or "")
        worker.current_job_id = None
        if job is not None and job.status == IN_PROGRESS and job.worker_id == worker.id:
            self._worker_crashed(job, worker, code, now)
        if (
            not worker.retired
            and not self._stopping.is_set()
            and (worker.restart or worker.stop_pod_requested)
        ):
            worker.stop_pod_requested = False
            self._spawn(worker)

    def _worker_crashed(self, job: FakeJob, worker: FakeWorker, code: int, now: float) -> None:
        policy = self.on_worker_crash
        if policy == "requeue":
            job.status = IN_QUEUE
            job.started_at = None
            job.worker_id = None
            job.output, job.has_output = None, False
            job.retries += 1
            self._retried_total += 1
            self._queue.insert(0, job.id)  # it was taken first, so it goes out first again
        elif policy == "fail":
            self._finish(
                job, FAILED, now, error=f"worker {worker.id} exited with code {code} while running the job"
            )
        # "hang": the job stays IN_PROGRESS until its execution timeout, like a worker that never reports.

    # ------------------------------------------------------------------ job state changes

    def _finish(
        self,
        job: FakeJob,
        status: str,
        now: float,
        *,
        output: Any = None,
        has_output: bool = False,
        error: Any = None,
    ) -> None:
        job.status = status
        job.finished_at = now
        if has_output:
            job.output, job.has_output = output, True
        if error is not None:
            job.error = error
        retention = self.runsync_result_retention_s if job.sync else self.result_retention_s
        job.expires_at = now + retention
        if job.id in self._queue:
            self._queue.remove(job.id)
        if status in self._counts:
            self._counts[status] += 1
        if job.webhook:
            body = job.status_body(now)
            threading.Thread(
                target=self._deliver_webhook, args=(job.id, job.webhook, body), daemon=True
            ).start()

    def _expire_in_queue(self, job: FakeJob, now: float) -> None:
        if self.ttl_expiry == "delete":
            self._queue.remove(job.id)
            del self._jobs[job.id]
            return
        job.timeout_reason = "ttl"
        self._finish(job, TIMED_OUT, now)

    def _time_out(self, job: FakeJob, now: float, reason: str) -> None:
        job.timeout_reason = reason
        status = TIMED_OUT if reason == "ttl" else self.execution_timeout_status
        self._finish(job, status, now)
        worker = self._workers.get(job.worker_id or "")
        if worker is not None:
            worker.pending_stops.append(job.id)
            self._terminate(worker, now, self.stop_signal_lead_s)

    def _deliver_webhook(self, job_id: str, url: str, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        for attempt in range(1, self.webhook_attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                request = urllib.request.Request(
                    url, data=data, method="POST", headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status, error = exc.code, str(exc)
            except OSError as exc:
                error = str(exc)
            with self._lock:
                self._webhooks.append(WebhookDelivery(job_id, url, body, attempt, status, error))
            if status == 200:
                return
            if attempt < self.webhook_attempts and self._stopping.wait(self.webhook_retry_delay_s):
                return

    def _describe_jobs(self) -> str:
        with self._lock:
            return ", ".join(f"{j.id}={j.status}" for j in self._jobs.values()) or "none"

    # ------------------------------------------------------------------ HTTP app

    def _build_app(self) -> Starlette:
        e = "/v2/{endpoint_id}"
        routes = [
            Route(f"{e}/run", self._run, methods=["POST"]),
            Route(f"{e}/runsync", self._runsync, methods=["POST"]),
            Route(f"{e}/status/{{job_id}}", self._status, methods=["GET", "POST"]),
            Route(f"{e}/stream/{{job_id}}", self._stream, methods=["GET", "POST"]),
            Route(f"{e}/cancel/{{job_id}}", self._cancel, methods=["POST"]),
            Route(f"{e}/retry/{{job_id}}", self._retry, methods=["POST"]),
            Route(f"{e}/purge-queue", self._purge_queue, methods=["POST"]),
            Route(f"{e}/health", self._health, methods=["GET"]),
            Route(f"{e}/job-take/{{worker_id}}", self._job_take, methods=["GET"]),
            Route(f"{e}/job-take-batch/{{worker_id}}", self._job_take, methods=["GET"]),
            Route(f"{e}/job-stop/{{worker_id}}", self._job_stop, methods=["GET"]),
            Route(f"{e}/job-done/{{worker_id}}/{{job_id}}", self._job_done, methods=["POST"]),
            Route(f"{e}/job-stream/{{worker_id}}/{{job_id}}", self._job_stream, methods=["POST"]),
            Route(f"{e}/ping/{{worker_id}}", self._ping, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    def _check(self, request: Request, key: str) -> Response | None:
        """404 for another endpoint id, 401 for a missing or wrong key; None when the request may go on."""
        if request.path_params.get("endpoint_id") != self.endpoint_id:
            return _error(404, "endpoint not found")
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ").strip() != key:
            return _error(401, "Unauthorized")
        return None

    # --- public side

    async def _submit(self, request: Request, *, sync: bool) -> FakeJob | Response:
        if (denied := self._check(request, self.api_key)) is not None:
            return denied
        raw = await request.body()
        limit = RUNSYNC_PAYLOAD_LIMIT if sync else RUN_PAYLOAD_LIMIT
        if len(raw) > limit:
            return _error(400, f"payload of {len(raw)} bytes exceeds the {limit} byte limit")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(body, dict) or "input" not in body:
            return _error(400, "the request body must be a JSON object with an 'input' key")
        policy = body.get("policy") or {}
        if not isinstance(policy, dict):
            return _error(400, "policy must be an object")
        timeout_ms = policy.get("executionTimeout", self.default_execution_timeout_ms)
        ttl_ms = policy.get("ttl", self.default_ttl_ms)
        for name, value, low in (
            ("executionTimeout", timeout_ms, self.min_execution_timeout_ms),
            ("ttl", ttl_ms, self.min_ttl_ms),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_POLICY_MS:
                return _error(
                    400, f"policy.{name} must be an integer number of ms in [{low}, {MAX_POLICY_MS}]"
                )
        webhook = body.get("webhook")
        job = FakeJob(
            id=f"{'sync-' if sync else ''}{uuid.uuid4()}-u1",
            input=body["input"],
            execution_timeout_ms=timeout_ms,
            ttl_ms=ttl_ms,
            webhook=webhook if isinstance(webhook, str) and webhook else None,
            s3_config=body.get("s3Config"),
            sync=sync,
            submitted_at=time.monotonic(),
        )
        with self._lock:
            self._jobs[job.id] = job
            self._queue.append(job.id)
        return job

    async def _run(self, request: Request) -> Response:
        job = await self._submit(request, sync=False)
        if isinstance(job, Response):
            return job
        return JSONResponse({"id": job.id, "status": IN_QUEUE})

    async def _runsync(self, request: Request) -> Response:
        try:
            wait_ms = min(max(int(request.query_params.get("wait", "90000")), 1000), 300_000)
        except ValueError:
            return _error(400, "wait must be an integer number of ms")
        job = await self._submit(request, sync=True)
        if isinstance(job, Response):
            return job
        deadline = time.monotonic() + wait_ms / 1000
        while job.status not in TERMINAL_STATUSES and time.monotonic() < deadline:
            await asyncio.sleep(_TICK_S)
        with self._lock:
            return JSONResponse(job.status_body())

    def _known_job(self, request: Request) -> FakeJob | Response:
        if (denied := self._check(request, self.api_key)) is not None:
            return denied
        job = self._jobs.get(request.path_params["job_id"])
        return job if job is not None else _error(404, "job not found")

    async def _status(self, request: Request) -> Response:
        with self._lock:
            job = self._known_job(request)
            return job if isinstance(job, Response) else JSONResponse(job.status_body())

    async def _stream(self, request: Request) -> Response:
        with self._lock:
            job = self._known_job(request)
            if isinstance(job, Response):
                return job
            chunks = job.stream[job.stream_cursor :]
            job.stream_cursor = len(job.stream)
            body: dict[str, Any] = {"id": job.id, "status": job.status, "stream": chunks}
            if job.error is not None:
                body["error"] = job.error
            return JSONResponse(body)

    async def _cancel(self, request: Request) -> Response:
        with self._lock:
            job = self._known_job(request)
            if isinstance(job, Response):
                return job
            now = time.monotonic()
            if job.status == IN_QUEUE:
                self._finish(job, CANCELLED, now)
            elif job.status == IN_PROGRESS:
                self._finish(job, CANCELLED, now)
                worker = self._workers.get(job.worker_id or "")
                if worker is not None:
                    worker.pending_stops.append(job.id)
                    if self.cancel_terminates_worker:
                        self._terminate(worker, now, self.stop_signal_lead_s)
            return JSONResponse({"id": job.id, "status": job.status})

    async def _retry(self, request: Request) -> Response:
        with self._lock:
            job = self._known_job(request)
            if isinstance(job, Response):
                return job
            if job.status not in (FAILED, TIMED_OUT):
                return _error(400, f"only FAILED or TIMED_OUT jobs can be retried, this one is {job.status}")
            job.status = IN_QUEUE
            job.started_at = job.finished_at = job.expires_at = None
            job.worker_id = job.error = job.timeout_reason = None
            job.output, job.has_output = None, False
            job.retries += 1
            self._retried_total += 1
            self._queue.append(job.id)
            return JSONResponse({"id": job.id, "status": IN_QUEUE})

    async def _purge_queue(self, request: Request) -> Response:
        if (denied := self._check(request, self.api_key)) is not None:
            return denied
        with self._lock:
            removed = len(self._queue)
            for job_id in self._queue:
                self._jobs.pop(job_id, None)
            self._queue.clear()
        return JSONResponse({"removed": removed, "status": "completed"})

    async def _health(self, request: Request) -> Response:
        if (denied := self._check(request, self.api_key)) is not None:
            return denied
        with self._lock:
            statuses = [j.status for j in self._jobs.values()]
            live = [w for w in self._workers.values() if w.alive and not w.terminating]
            running = sum(1 for w in live if w.current_job_id is not None)
            return JSONResponse(
                {
                    "jobs": {
                        "completed": self._counts[COMPLETED],
                        "failed": self._counts[FAILED],
                        "inProgress": statuses.count(IN_PROGRESS),
                        "inQueue": statuses.count(IN_QUEUE),
                        "retried": self._retried_total,
                    },
                    "workers": {"idle": len(live) - running, "running": running},
                }
            )

    # --- worker side

    def _worker_for(self, request: Request) -> FakeWorker | Response:
        if (denied := self._check(request, self.worker_api_key)) is not None:
            return denied
        worker_id = request.path_params["worker_id"]
        worker = self._workers.get(worker_id)
        if worker is None:
            # An SDK worker started outside launch_worker (in-process, say) is still a worker.
            worker = FakeWorker(id=worker_id, command=None, env=None, cwd=None, log_path=None, restart=False)
            self._workers[worker_id] = worker
        return worker

    async def _job_take(self, request: Request) -> Response:
        batch = "job-take-batch" in request.url.path
        deadline = time.monotonic() + self.job_take_wait_s
        holds_job = request.query_params.get("job_in_progress") == "1"
        while True:
            with self._lock:
                worker = self._worker_for(request)
                if isinstance(worker, Response):
                    return worker
                worker.ready_event.set()
                if not holds_job and worker.current_job_id is not None:
                    # The SDK says it holds no job: the last one was stopped, or its result never came.
                    worker.current_job_id = None
                if worker.current_job_id is None and not worker.terminating and self._queue:
                    job = self._jobs[self._queue.pop(0)]
                    job.status = IN_PROGRESS
                    job.started_at = time.monotonic()
                    job.worker_id = worker.id
                    worker.current_job_id = job.id
                    worker.jobs_taken.append(job.id)
                    payload: dict[str, Any] = {"id": job.id, "input": job.input}
                    if job.s3_config is not None:
                        payload["s3Config"] = job.s3_config
                    return JSONResponse([payload] if batch else payload)
            if time.monotonic() >= deadline or self._stopping.is_set():
                return Response(status_code=204)
            await asyncio.sleep(_TICK_S)

    async def _job_stop(self, request: Request) -> Response:
        deadline = time.monotonic() + self.job_stop_wait_s
        while True:
            with self._lock:
                worker = self._worker_for(request)
                if isinstance(worker, Response):
                    return worker
                if worker.pending_stops:
                    ids = list(dict.fromkeys(worker.pending_stops))
                    worker.pending_stops.clear()
                    worker.stop_signals_sent.extend(ids)
                    if worker.sigterm_at is not None:
                        # Collected: SIGTERM soon, once the SDK has had a moment to cancel the task.
                        worker.sigterm_at = min(worker.sigterm_at, time.monotonic() + 0.5)
                    return JSONResponse({"jobsToStop": ids})
            if time.monotonic() >= deadline or self._stopping.is_set():
                return Response(status_code=204)
            await asyncio.sleep(_TICK_S)

    @staticmethod
    async def _json_object(request: Request) -> dict[str, Any] | Response:
        # Read before taking the lock: the lock is a thread lock and must never be held across an await.
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "body is not JSON")
        return body if isinstance(body, dict) else _error(400, "body must be a JSON object")

    def _worker_post(
        self, request: Request, body: dict[str, Any] | Response
    ) -> tuple[FakeWorker, FakeJob | None, dict[str, Any]] | Response:
        worker = self._worker_for(request)
        if isinstance(worker, Response):
            return worker
        if isinstance(body, Response):
            return body
        return worker, self._jobs.get(request.path_params["job_id"]), body

    async def _job_done(self, request: Request) -> Response:
        parsed = await self._json_object(request)
        with self._lock:
            found = self._worker_post(request, parsed)
            if isinstance(found, Response):
                return found
            worker, job, body = found
            now = time.monotonic()
            is_progress = body.get("status") == IN_PROGRESS
            if job is None or job.status != IN_PROGRESS or job.worker_id != worker.id:
                # Answer 200 anyway: the SDK retries failed posts, which would only repeat the noise.
                if job is not None:
                    job.late_posts.append({"kind": "progress" if is_progress else "result", "body": body})
                if not is_progress and worker.current_job_id == request.path_params["job_id"]:
                    worker.current_job_id = None
                if body.get("stopPod"):
                    worker.stop_pod_requested = True
                    self._terminate(worker, now)
                return JSONResponse({})
            if is_progress:
                job.output, job.has_output = body.get("output"), True
                job.progress.append(body.get("output"))
                return JSONResponse({})
            worker.current_job_id = None
            if body.get("stopPod"):
                # stopPod asks the platform for a fresh worker: the SDK itself exits only when
                # refresh_worker was set in start(), not when the handler returned it.
                job.stop_pod = True
                worker.stop_pod_requested = True
                self._terminate(worker, now)
            error = body.get("error")
            if error:
                self._finish(
                    job, FAILED, now, output=body.get("output"), has_output="output" in body, error=error
                )
            else:
                self._finish(job, COMPLETED, now, output=body.get("output"), has_output=True)
            return JSONResponse({})

    async def _job_stream(self, request: Request) -> Response:
        parsed = await self._json_object(request)
        with self._lock:
            found = self._worker_post(request, parsed)
            if isinstance(found, Response):
                return found
            _worker, job, body = found
            if job is not None:
                if job.status == IN_PROGRESS:
                    job.stream.append(body)
                else:
                    job.late_posts.append({"kind": "stream", "body": body})
            return JSONResponse({})

    async def _ping(self, request: Request) -> Response:
        with self._lock:
            worker = self._worker_for(request)
            if isinstance(worker, Response):
                return worker
            worker.pings += 1
            worker.last_ping_job_ids = request.query_params.get("job_id")
            return JSONResponse({})

    # --- recording

    def _record(self, scope: Scope, body: bytes) -> RecordedRequest | Response:
        path: str = scope["path"]
        parts = path.split("/")
        side: Literal["public", "worker", "other"] = "other"
        if len(parts) > 3 and parts[1] == "v2":
            side = "worker" if parts[3] in WORKER_ROUTES else "public"
        headers = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            headers[name] = (
                "<redacted>"
                if name in ("authorization", "proxy-authorization")
                else raw_value.decode("latin-1")
            )
        record = RecordedRequest(
            at=time.time(),
            side=side,
            method=scope["method"],
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body.decode("utf-8", errors="replace"),
        )
        with self._lock:
            self._requests.append(record)
            if side == "public" and self._throttle_left > 0:
                self._throttle_left -= 1
                record.status = 429
                return _error(429, "Too Many Requests")
        return record


class _RecordingMiddleware:
    """Records every request (body included) before routing, and answers a pending 429 burst."""

    def __init__(self, app: ASGIApp, fake: FakeRunpod) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        outcome = self.fake._record(scope, body)
        if isinstance(outcome, Response):
            await outcome(scope, receive, send)
            return
        record = outcome
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        await self.app(scope, replay, send_and_note)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


@contextlib.contextmanager
def running_fake(
    log_dir: str | Path | None = None, *, stop_grace_s: float = 0.3, **knobs: Any
) -> Iterator[FakeRunpod]:
    """``with running_fake(tmp_path, kill_grace_s=1) as fake:`` starts a fake, sets knobs, stops it after.

    At the end workers get ``stop_grace_s`` after SIGTERM before SIGKILL: short, since a test is over.
    """
    fake = FakeRunpod.start(log_dir=log_dir)
    try:
        for name, value in knobs.items():
            if not hasattr(fake, name):
                raise AttributeError(f"FakeRunpod has no knob {name!r}")
            setattr(fake, name, value)
        yield fake
    finally:
        fake.stop(grace_s=stop_grace_s)
