"""The service side of a RunPod run, in-process: a SQLite database, the object store on the stack's moto
bucket, the REAL :class:`RunpodServerlessBackend` pointed at the fake RunPod cloud, and the REAL
:class:`Reconciler`, ticked by the test (see conftest.py's ``make_service``)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from job_reads import JobReads
from runpod_stack import GPU, RunpodStack, everything_captured
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.backends.runpod_serverless import RunpodServerlessBackend
from lorapipe.db.jobs import Attempt, Job, JobEvent
from lorapipe.services.job_requests import CreateJobRequest
from lorapipe.services.jobs import create_job
from lorapipe.services.reconciler import Reconciler
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

ROOT = Path(__file__).resolve().parents[3]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class RunpodService(JobReads):
    """One service replica's moving parts, wired to one fake RunPod endpoint."""

    stack: RunpodStack
    settings: Settings
    sessions: sessionmaker[Session]
    objects: ObjectStore
    backend: RunpodServerlessBackend
    reconciler: Reconciler
    owner_id: str
    file_id: str
    log_path: Path
    #: Every backoff the backend slept (seconds); the sleep itself is skipped.
    sleeps: list[float] = field(default_factory=list)

    def create(
        self, max_steps: int, *, max_attempts: int = 1, timeout_s: int | None = None, **config: Any
    ) -> str:
        """A queued job training the tiny model on EQ-12 with the cpu-smoke preset."""
        request = CreateJobRequest(
            model="lorapipe/tiny-qwen3",
            training_file=self.file_id,
            backend="runpod-serverless",
            preset="cpu-smoke",
            config={"max_steps": max_steps, "sample_prompts": 0, **config},
            max_attempts=max_attempts,
            timeout_s=timeout_s,
        )
        with self.sessions() as s:
            return create_job(s, self.objects, self.settings, owner_id=self.owner_id, request=request).id

    def messages(self, job_id: str) -> list[str]:
        return [e.message for e in self.events(job_id)]

    def tick_until(self, condition: Callable[[], object], limit_s: float, what: str) -> object:
        """Tick the reconciler until ``condition()`` is truthy (its value is returned)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            self.reconciler.tick()
            if value := condition():
                return value
            time.sleep(0.2)
        raise AssertionError(f"not reached in {limit_s} s: {what}\n{self.describe()}")

    def run_to_end(self, job_id: str, limit_s: float = 240) -> Job:
        self.tick_until(lambda: self.job(job_id).status in TERMINAL, limit_s, f"{job_id} ends")
        return self.job(job_id)

    def wait_for_message(self, job_id: str, needle: str, limit_s: float = 180) -> None:
        """Tick until an event of ``job_id`` says ``needle``; fails at once if the job ends first."""

        def seen() -> bool:
            if any(needle in m for m in self.messages(job_id)):
                return True
            job = self.job(job_id)
            assert job.status not in TERMINAL, f"{job_id} {job.status} before {needle!r}: {job.error}"
            return False

        self.tick_until(seen, limit_s, f"{needle!r} in {job_id}")

    def engine_events(
        self, job_id: str, kind: str, attempt_number: int | None = None
    ) -> list[dict[str, Any]]:
        """The engine events of type ``kind`` the service stored (of one attempt when given)."""
        attempt_ids = {a.id for a in self.attempts(job_id) if attempt_number in (None, a.number)}
        return [
            e.data
            for e in self.events(job_id)
            if e.data and e.data.get("engine_type") == kind and e.attempt_id in attempt_ids
        ]

    def complete_checkpoints(self, job_id: str) -> list[int]:
        """Steps of the checkpoints mirrored to the store with their ``_complete`` marker."""
        prefix = f"runs/{job_id}/checkpoints/"
        return sorted(
            int(key[len(prefix) :].split("/")[0].removeprefix("checkpoint-"))
            for key in self.objects.list(prefix)
            if key.endswith("/_complete")
        )

    def describe(self) -> str:
        with self.sessions() as s:
            jobs = list(s.scalars(select(Job)))
            lines = [f"job {j.id}: {j.status} {j.error}" for j in jobs]
        lines += [f"fake: {j.id} {j.status}" for j in self.stack.fake.jobs.values()]
        return "\n".join(lines)

    def database_text(self) -> str:
        """Every job, attempt and event row as JSON: what the service keeps and serves."""
        with self.sessions() as s:
            rows: list[dict[str, Any]] = []
            for model in (Job, Attempt, JobEvent):
                for row in s.scalars(select(model)):
                    rows.append({c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs})
        return json.dumps(rows, default=str)

    def assert_no_secret(self) -> None:
        """No secret in what the fake received (job input included), the worker logs, the service log,
        or the database."""
        captured = everything_captured(self.stack, self.log_path) + self.database_text()
        assert captured.strip()
        for secret in self.stack.secrets():
            assert secret not in captured


def service_settings(stack: RunpodStack, data_dir: Path, **extra: Any) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'lorapipe.db'}",
        "storage_url": stack.storage_url,
        "storage_options": stack.storage_options,
        "runpod_endpoint_id": stack.fake.endpoint_id,
        "runpod_api_url": f"{stack.fake.url}/v2",
        "runpod_api_key": stack.fake.api_key,
        "runpod_endpoint_gpu": GPU,
        **extra,
    }
    return Settings(**values)


class ReadOnlyPrefixS3:
    """An S3 endpoint in front of the moto server that answers 403 AccessDenied to every write whose key
    contains ``denied`` (what a bucket policy denying ``s3:PutObject`` on a prefix does) and forwards
    everything else. A worker pointed at it can read and mirror checkpoints but not upload adapters."""

    def __init__(self, upstream: str, denied: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.denied = denied
        self.refused: list[str] = []
        proxy = self
        client = httpx.Client(timeout=60)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and "Expect: 100-continue", as S3 clients use

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command in ("PUT", "POST") and proxy.denied in self.path:
                    proxy.refused.append(f"{self.command} {self.path}")
                    self._answer(403, {"Content-Type": "application/xml"}, DENIED)
                    return
                skip = {"host", "content-length", "connection", "expect"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                answer = client.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body
                )
                keep = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower()
                    not in ("content-length", "transfer-encoding", "connection", "content-encoding")
                }
                self._answer(answer.status_code, keep, answer.content)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)
