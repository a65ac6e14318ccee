"""``python -m lorapipe.worker.pod``: the start command of a ``runpod-pod`` pod. It runs exactly one attempt
and exits; the service terminates the pod as soon as it sees the result.

In: ``LORAPIPE_WORKER_POD_JOB``, the attempt as the same JSON the serverless worker takes
(:class:`~lorapipe.contract.serverless.ServerlessInput`: attempt id, spec with the dataset as a presigned
URL, resume, ``events_uri``). No secrets travel in it: the store's credentials are in the pod's own
environment, which the service sets from its settings when it creates the pod.

Out, all in the object store (the service never talks to the pod itself):

- the engine's event log at ``events_uri``, uploaded again whenever new events are due (lifecycle events
  at once, metrics at most every ``worker_progress_interval_s``): the service reads it while the pod runs;
- the result (:class:`~lorapipe.contract.serverless.ServerlessOutput` JSON: exit code, the engine's error,
  the manifest) at ``result.json`` beside the event log, written last: its presence means the attempt ended.

The engine runs through the serverless handler's own path (:func:`lorapipe.worker.handler.handle`), so a
pod and a serverless worker run identical code. A pod stop sends SIGTERM to this process, which passes it
on to the engine: it saves and mirrors a checkpoint and exits 3, and the log and result are still stored.
A container that starts again after its attempt ended (a restarted pod) finds the result and exits at once
instead of training twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from lorapipe.contract.events import ExitCode
from lorapipe.errors import LorapipeError
from lorapipe.settings import Settings, get_settings
from lorapipe.storage import ObjectStore, storage_options_for
from lorapipe.worker.handler import handle

log = logging.getLogger("lorapipe.worker.pod")

RESULT_NAME = "result.json"


def result_uri(events_uri: str) -> str:
    """Where the attempt's result object goes: ``result.json`` beside its event log."""
    return f"{events_uri.rstrip('/').rpartition('/')[0]}/{RESULT_NAME}"


def _store_of(uri: str, settings: Settings) -> tuple[ObjectStore, str]:
    folder, _, name = uri.rstrip("/").rpartition("/")
    return ObjectStore(folder, **storage_options_for(uri, settings)), name


class EventLogUploader:
    """The progress sink of a pod: instead of RunPod's ``progress_update``, the whole local event log goes
    to the store again (it holds every metric point, so nothing between two uploads is lost)."""

    def __init__(self, attempt_id: str, events_uri: str | None, settings: Settings) -> None:
        self.path = settings.worker_dir / attempt_id / "events.jsonl"  # where the handler writes it
        self.events_uri = events_uri
        self.settings = settings

    def __call__(self, job: dict[str, Any], payload: dict[str, Any]) -> None:
        if not self.events_uri or not self.path.exists():
            return
        store, name = _store_of(self.events_uri, self.settings)
        try:
            with self.path.open("rb") as handle_:
                store.put(name, handle_)
        except (OSError, LorapipeError) as exc:  # the next upload (or the final one) tries again
            log.warning("the event log could not be uploaded: %s", type(exc).__name__)


def _write_result(uri: str, output: dict[str, Any], settings: Settings) -> bool:
    store, name = _store_of(uri, settings)
    body = {k: v for k, v in output.items() if k != "refresh_worker"}
    try:
        store.put(name, json.dumps(body).encode("utf-8"))
    except (OSError, LorapipeError) as exc:
        log.error("the result could not be stored: %s", type(exc).__name__)
        return False
    return True


def _previous_result(uri: str, settings: Settings) -> dict[str, Any] | None:
    store, name = _store_of(uri, settings)
    try:
        data = json.loads(store.read_bytes(name)) if store.exists(name) else None
    except (OSError, ValueError, LorapipeError):
        return None
    return data if isinstance(data, dict) else None


def run(settings: Settings) -> int:
    """Run the attempt in ``settings.worker_pod_job``; the engine's exit code."""
    try:
        raw = json.loads(settings.worker_pod_job or "")
    except ValueError:
        log.error("LORAPIPE_WORKER_POD_JOB is missing or not JSON: this pod has nothing to run")
        return int(ExitCode.USER_ERROR)
    events_uri = raw.get("events_uri") if isinstance(raw, dict) else None
    attempt_id = str(raw.get("attempt_id") or "unknown") if isinstance(raw, dict) else "unknown"
    result_at = result_uri(events_uri) if isinstance(events_uri, str) and events_uri else None
    if result_at is not None:
        previous = _previous_result(result_at, settings)
        if previous is not None:
            log.info(
                "attempt %s already ended (exit %s); not running it again",
                attempt_id,
                previous.get("exit_code"),
            )
            return int(previous.get("exit_code") or 0)
    send = EventLogUploader(attempt_id, events_uri if isinstance(events_uri, str) else None, settings)
    output = asyncio.run(handle({"id": attempt_id, "input": raw}, send=send))
    code = int(output.get("exit_code", ExitCode.SYSTEM_ERROR))
    if result_at is None:
        log.error("the attempt has no events_uri: its result cannot be stored")
    elif _write_result(result_at, output, settings):
        log.info("attempt %s ended with exit code %d; result stored", attempt_id, code)
    return code


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(get_settings())


if __name__ == "__main__":
    sys.exit(main())
