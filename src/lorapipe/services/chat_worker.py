"""The web side of the inference worker: one child process (``python -m lorapipe.inference``) started
on the first chat request, fed one request at a time, restarted when it died or hung.

Capacity is bounded so a chat can never hang: one request runs, at most ``chat_queue_length`` wait
for it, and any more is refused at once with 429 and ``Retry-After`` (one user may hold at most
``chat_max_requests_per_user`` of these places, so no user can take the whole queue). A running
request that the worker does not answer in time (start, load and the request's own time limit, plus
a margin) gets the worker killed and a 504.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from typing import IO, Any

from lorapipe.contract.inference import CONTEXT_LENGTH, TIMEOUT
from lorapipe.errors import CapacityError, JobTimeoutError, LorapipeError, UserError
from lorapipe.services.limits import PerUserSlots, slots
from lorapipe.settings import Settings

log = logging.getLogger(__name__)

MARGIN_S = 30.0
"""Added to a running request's limits before the worker counts as hung, in seconds."""


class ContextLengthError(UserError):
    code = CONTEXT_LENGTH


class InferenceError(LorapipeError):
    """The worker could not produce a reply (a model that fails to load, a crash)."""

    code = "inference_failed"


def worker_error(event: dict[str, Any]) -> LorapipeError:
    """The error a worker's ``error`` event stands for."""
    message, param = str(event.get("message") or "generation failed"), event.get("param")
    if event.get("code") == CONTEXT_LENGTH:
        return ContextLengthError(message, param=param or "messages")
    if event.get("code") == TIMEOUT:
        return JobTimeoutError(message, hint="lower max_tokens or retry later")
    if event.get("kind") == "user":
        return UserError(message, param=param)
    if event.get("kind") == "capacity":  # e.g. the hub did not deliver the base model
        return CapacityError(message, hint="retry later")
    return InferenceError(message)


def chat_slots(settings: Settings) -> PerUserSlots:
    """The running request plus the waiting ones, at most ``chat_max_requests_per_user`` per user."""
    return slots("chat requests", settings.chat_max_requests_per_user, total=settings.chat_queue_length + 1)


class InferenceWorker:
    """The child process and the lock that lets one request at a time talk to it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.turn = threading.Lock()  # held by the request being answered
        self._proc: subprocess.Popen[str] | None = None
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ids = 0

    def _config(self) -> str:
        s = self.settings
        return json.dumps(
            {
                "data_dir": str(s.data_dir),
                "model_cache_dir": str(s.resolved_model_cache_dir),
                "model_dirs": [str(p) for p in s.model_dirs],
                "max_adapters": s.chat_max_adapters,
                "device": s.chat_device,
                "engine": s.chat_engine,
                "max_lora_rank": s.chat_max_lora_rank,
            }
        )

    def _read(self, out: IO[str]) -> None:
        for line in out:
            try:
                self._events.put(json.loads(line))
            except json.JSONDecodeError:
                log.warning("inference worker wrote a line that is not JSON")
        self._events.put(None)  # the worker ended

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._events = queue.Queue()
        proc = subprocess.Popen(
            [sys.executable, "-m", "lorapipe.inference", self._config()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        threading.Thread(target=self._read, args=(proc.stdout,), name="inference-reader", daemon=True).start()
        self._proc = proc
        ready = self._next(time.monotonic() + self.settings.chat_load_timeout_s)
        if ready.get("type") != "ready":
            raise InferenceError("the inference worker did not start")
        return proc

    def _next(self, deadline: float) -> dict[str, Any]:
        try:
            event = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.stop()
            raise JobTimeoutError(
                "the inference worker did not answer in time; it was restarted", hint="retry shortly"
            ) from None
        if event is None:
            self.stop()
            raise InferenceError("the inference worker stopped; it restarts on the next request")
        return event

    def _send(self, proc: subprocess.Popen[str], message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            raise InferenceError("the inference worker stopped; it restarts on the next request") from None

    def run(self, request: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """The worker's events for ``request`` (without ``id``/``op``), ending with ``done``.

        The caller holds :attr:`turn`. An ``error`` event is raised as the error it stands for;
        closing the iterator early cancels the request in the worker and waits for its end.
        """
        limit = self.settings.chat_load_timeout_s + float(request["time_limit_s"]) + MARGIN_S
        proc = self._start()
        self._ids += 1
        rid = f"r{self._ids}"
        self._send(proc, {"op": "generate", "id": rid, **request})
        deadline = time.monotonic() + limit
        finished = False
        try:
            while True:
                event = self._next(deadline)
                if event.get("id") != rid:
                    continue  # the end of an earlier, cancelled request
                if event.get("type") == "error":
                    finished = True
                    raise worker_error(event)
                yield event
                if event.get("type") == "done":
                    finished = True
                    return
        finally:
            if not finished and self._proc is proc and proc.poll() is None:
                self._cancel(proc, rid, deadline)

    def _cancel(self, proc: subprocess.Popen[str], rid: str, deadline: float) -> None:
        """Stop ``rid`` in the worker and wait for its last event, so the next request starts clean."""
        try:
            self._send(proc, {"op": "cancel", "id": rid})
            while (event := self._next(deadline)).get("id") != rid or event.get("type") == "delta":
                pass
            log.info("chat request %s ended early: %s", rid, event.get("code") or event.get("type"))
        except LorapipeError:
            pass  # the worker was stopped; the next request starts a new one

    def stop(self) -> None:
        """End the child process (SIGTERM, then SIGKILL after 5 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


_workers: dict[int, InferenceWorker] = {}
_workers_lock = threading.Lock()


def worker_for(settings: Settings) -> InferenceWorker:
    """The process's worker for these settings (one per settings object: one per app)."""
    with _workers_lock:
        if id(settings) not in _workers:
            _workers[id(settings)] = InferenceWorker(settings)
        return _workers[id(settings)]


def stop_worker(settings: Settings) -> None:
    """Stop this app's worker, if it was started (at service shutdown)."""
    with _workers_lock:
        worker = _workers.pop(id(settings), None)
    if worker is not None:
        worker.stop()


def wait_turn(worker: InferenceWorker, settings: Settings) -> None:
    """Wait for the running request to end. Bounded: at most ``chat_queue_length`` requests are ahead,
    each limited in time; should that still pass, the answer is a 503, never a hang."""
    per_request = settings.chat_load_timeout_s + settings.chat_request_timeout_s + MARGIN_S
    if not worker.turn.acquire(timeout=per_request * (settings.chat_queue_length + 1)):
        raise CapacityError("the inference worker is busy", hint="retry in a minute")
