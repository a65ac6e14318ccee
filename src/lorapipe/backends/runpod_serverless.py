"""The RunPod serverless backend: each attempt is one job on a RunPod endpoint running the lorapipe worker
image (``python -m lorapipe.worker``).

RunPod's contract and how this follows it:

- ``POST /v2/{endpoint}/run`` with ``input`` (:class:`~lorapipe.contract.serverless.ServerlessInput`: the
  spec, no secrets: the dataset as a presigned URL) and ``policy`` — ``executionTimeout`` sized from the
  job's estimate (the job is refused at creation when the endpoint cannot finish it) and ``ttl`` = that
  plus the time it may wait in the queue.
- ``GET /status/{id}``: IN_QUEUE and IN_PROGRESS are running (the worker's latest progress is the
  ``output``: its events are returned at once, so nothing waits for the end); COMPLETED, FAILED and
  CANCELLED end the attempt with the worker's exit code; TIMED_OUT ends it with a retryable timeout (the
  engine mirrored its checkpoints, so the retry resumes). ``delayTime``/``executionTime`` and the
  endpoint's GPU become the attempt's billing (cost records).
- A run RunPod stopped (cancel, execution timeout) ends only once the worker's event log is in the store
  (at most ``runpod_stop_wait_s`` later): RunPod drops the progress sent after the stop, and the log is
  what tells of the checkpoint the engine saved then and of how the run ended.
- The job's time limit is RunPod's to enforce (the handle says ``timed_by_provider``): it counts from
  when a worker started the run, the service's own clock from when it was queued.
- Results expire (30 minutes after the end): a 404 for a job that was seen is read from the store — the
  worker's complete event log and, when the adapter is there, its manifest.
- ``POST /cancel/{id}`` stops the run (the worker's engine checkpoints first).
- 429 and 5xx answers and connection errors are retried with backoff; a submit that still fails is a
  capacity error (the job waits in our queue), a poll that fails tries again on the next tick.

Length: one class, whose poll maps every RunPod state; admission and answer parsing live beside it
(``runpod_admission``, ``runpod_answers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from lorapipe.backends.base import PollResult, Submission, event_lines, in_seq_order
from lorapipe.backends.runpod_admission import missing_configuration
from lorapipe.backends.runpod_answers import events_of, reason, renumbered, short, worker_error
from lorapipe.backends.runpod_input import events_key, worker_input
from lorapipe.contract.events import ExitCode
from lorapipe.errors import CapacityError, ConfigError, LorapipeError
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

NAME = "runpod-serverless"
RUNNING = {"IN_QUEUE", "IN_PROGRESS"}
RETRY_STATUS = {429, 500, 502, 503, 504}
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class RunpodServerlessBackend:
    """One RunPod serverless endpoint, at most ``settings.runpod_max_concurrent`` attempts at a time."""

    name = NAME

    def __init__(
        self,
        settings: Settings,
        objects: ObjectStore,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if missing_configuration(settings) is not None or settings.runpod_api_key is None:
            raise ConfigError(f"{NAME} is not configured: {missing_configuration(settings)}", param="backend")
        self.settings = settings
        self.objects = objects
        self.base = f"{settings.runpod_api_url.rstrip('/')}/{settings.runpod_endpoint_id}"
        self._headers = {"Authorization": f"Bearer {settings.runpod_api_key.get_secret_value()}"}
        self.client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
        self.sleep = sleep
        self._in_flight: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> RunpodServerlessBackend:
        return cls(settings, ObjectStore.from_settings(settings))

    # --- capacity ---------------------------------------------------------------------------------

    def free_slots(self) -> int:
        return max(0, self.settings.runpod_max_concurrent - len(self._in_flight))

    # --- HTTP -------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """The answer, retried with backoff on 429/5xx and connection errors; None when it never came."""
        for delay in (*BACKOFF_S, None):
            try:
                response = self.client.request(method, f"{self.base}{path}", headers=self._headers, **kwargs)
                if response.status_code not in RETRY_STATUS:
                    return response
            except httpx.TransportError:
                pass
            if delay is None:
                return None
            self.sleep(delay)
        return None

    # --- lifecycle --------------------------------------------------------------------------------

    def submit(self, submission: Submission) -> dict[str, Any]:
        timeout_s = submission.timeout_s or self.settings.runpod_max_execution_s
        body = {
            "input": worker_input(submission, self.objects, self.settings.runpod_presign_s),
            "policy": {
                "executionTimeout": int(timeout_s * 1000),
                "ttl": int((timeout_s + self.settings.runpod_queue_ttl_s) * 1000),
            },
        }
        response = self._request("POST", "/run", json=body)
        if response is None:
            raise CapacityError(
                "RunPod did not accept the job (rate limited or unavailable); it will be retried"
            )
        if response.status_code >= 400:
            raise LorapipeError(f"RunPod refused the job: HTTP {response.status_code} {reason(response)}")
        runpod_id = str(response.json()["id"])
        self._in_flight.add(runpod_id)
        return {
            "runpod_id": runpod_id,
            "endpoint_id": self.settings.runpod_endpoint_id,
            "seq": 0,
            "queued": True,
            # RunPod enforces the job's time limit (executionTimeout) from when a worker starts the run.
            "timed_by_provider": True,
            "events_key": events_key(submission),
            "adapter_key": f"runs/{submission.job_id}/{submission.attempt_id}/adapter/manifest.json",
            "billing": self._billing({}),
        }

    def poll(self, handle: dict[str, Any]) -> PollResult:
        runpod_id = str(handle["runpod_id"])
        # Held until RunPod says the job ended: after a restart, and while RunPod does not answer, the
        # job still takes one of the endpoint's slots (free_slots must not hand it to another).
        self._in_flight.add(runpod_id)
        response = self._request("GET", f"/status/{runpod_id}")
        if response is None or (response.status_code >= 400 and response.status_code != 404):
            return PollResult(state="running", handle=handle)  # RunPod unreachable: ask again next tick
        if response.status_code == 404:
            return self._expired(handle)
        status = response.json()
        state = str(status.get("status", ""))
        output = status.get("output")
        runs, events = renumbered(handle.get("runs") or {}, int(handle.get("seq", 0)), events_of(output))
        events = in_seq_order(events, after=int(handle.get("seq", 0)))
        handle = {
            **handle,
            "runs": runs,
            "seq": max([handle.get("seq", 0), *(int(e["seq"]) for e in events)]),
            "queued": state == "IN_QUEUE",
            "started": bool(handle.get("started"))
            or state == "IN_PROGRESS"
            or bool(status.get("executionTime")),
            "runpod_status": state,
            "billing": self._billing(status),
        }
        if state in RUNNING or self._settling(state, handle):
            return PollResult(events=events, state="running", handle=handle)
        self._in_flight.discard(runpod_id)
        events = self._with_stored_log(handle, events)
        handle["seq"] = max([handle["seq"], *(int(e["seq"]) for e in events)])
        tail = str(output.get("stderr_tail", "")) if isinstance(output, dict) else ""
        if state == "COMPLETED":
            code = output.get("exit_code", 0) if isinstance(output, dict) else 0
            return PollResult(
                events=events, state="exited", exit_code=int(code), handle=handle, stderr_tail=tail
            )
        if state == "CANCELLED":
            return PollResult(events=events, state="exited", exit_code=int(ExitCode.CANCELLED), handle=handle)
        if state == "TIMED_OUT":
            started = bool(handle["started"])
            error = (
                {
                    "code": "execution_timeout",
                    "kind": "system",
                    "message": "RunPod stopped the run at the job's "
                    "execution timeout; a retry resumes from the last checkpoint",
                }
                if started
                else {
                    "code": "queue_expired",
                    "kind": "capacity",
                    "message": "no RunPod worker took the job before its time in the queue ran out",
                }
            )
            return PollResult(
                events=events,
                state="exited",
                exit_code=int(ExitCode.SYSTEM_ERROR),
                handle=handle,
                error=error,
            )
        # FAILED (or a status this code does not know): the worker's own error and exit code when it sent
        # them (in ``output``, or as the JSON in ``error`` when the output was dropped).
        code = output.get("exit_code") if isinstance(output, dict) else None
        reported = worker_error(status.get("error"))
        failure: dict[str, str] | None = None
        if reported is not None:
            # The worker's reason is the attempt's error even when ``output`` carries the exit code too:
            # an input the worker refused sends no engine event, so without it only "exit 2" would remain.
            sent = reported.pop("exit_code", None)
            code = code if isinstance(code, int) else sent
            failure = reported
        if not isinstance(code, int):
            code = int(ExitCode.SYSTEM_ERROR)
            failure = failure or {
                "code": "worker_failed",
                "kind": "system",
                "message": f"the RunPod worker failed: {short(status.get('error'))}",
            }
        return PollResult(
            events=events, state="exited", exit_code=code, handle=handle, stderr_tail=tail, error=failure
        )

    def cancel(self, handle: dict[str, Any], *, force: bool = False) -> None:
        # RunPod has one cancel: the worker's engine gets its stop and checkpoints; force changes nothing.
        self._request("POST", f"/cancel/{handle['runpod_id']}")

    # --- helpers ----------------------------------------------------------------------------------

    def _settling(self, state: str, handle: dict[str, Any]) -> bool:
        """Whether a run RunPod has just stopped (cancel, execution timeout) is still winding down: RunPod
        marks the job at once and drops later progress, while the engine saves its checkpoint and the
        worker then stores the complete event log, the only record of that checkpoint and of how the run
        ended. Until the log is there (at most ``runpod_stop_wait_s``), the attempt is still running: a
        retry decided earlier would not know the checkpoint to resume from."""
        if state not in ("CANCELLED", "TIMED_OUT") or not handle.get("started"):
            return False
        if self.objects.exists(handle["events_key"]):
            return False
        stopped_at = float(handle.setdefault("stopped_at", time.time()))
        return time.time() - stopped_at < self.settings.runpod_stop_wait_s

    def _with_stored_log(self, handle: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``events`` and every event of the worker's stored log, in ``seq`` order, each once. The whole
        log, not only what follows the newest ``seq`` seen: RunPod keeps only the latest progress payload
        (the lifecycle events and the newest metrics), so metric points that fell out of it between two
        polls, and before the final output, are only in the log. Ingestion skips the events it already
        stored (``(attempt, engine seq)``). Updates the handle's runs (:func:`renumbered`)."""
        try:
            stored = event_lines(self.objects.read_bytes(handle["events_key"]))
        except LorapipeError:
            stored = []
        seen = max([int(handle.get("seq", 0)), *(int(e["seq"]) for e in events)])
        handle["runs"], stored = renumbered(handle.get("runs") or {}, seen, stored)
        return in_seq_order([*stored, *events])

    def _expired(self, handle: dict[str, Any]) -> PollResult:
        """RunPod forgot the job (its result expired): what the store says happened."""
        self._in_flight.discard(str(handle["runpod_id"]))
        handle = dict(handle)
        events = self._with_stored_log(handle, [])
        handle = {
            **handle,
            "seq": max([handle.get("seq", 0), *(int(e["seq"]) for e in events)]),
            "expired": True,
        }
        result = next((e for e in reversed(events) if e.get("type") == "result"), None)
        if result is not None and isinstance(result.get("exit_code"), int):
            return PollResult(
                events=events, state="exited", exit_code=int(result["exit_code"]), handle=handle
            )
        if self.objects.exists(handle["adapter_key"]):
            return PollResult(events=events, state="exited", exit_code=0, handle=handle)
        return PollResult(
            events=events,
            state="lost",
            handle=handle,
            error={
                "code": "result_expired",
                "kind": "system",
                "message": "RunPod no longer knows the job and it left no result in the store",
            },
        )

    def _billing(self, status: dict[str, Any]) -> dict[str, Any]:
        billing: dict[str, Any] = {"gpu_count": 1, "tier": self.settings.runpod_endpoint_tier}
        if self.settings.runpod_endpoint_gpu:
            billing["gpu"] = self.settings.runpod_endpoint_gpu
        for ours, theirs in (("execution_ms", "executionTime"), ("delay_ms", "delayTime")):
            if isinstance(status.get(theirs), int | float):
                billing[ours] = int(status[theirs])
        if status.get("workerId"):
            billing["worker_id"] = str(status["workerId"])
        return billing
