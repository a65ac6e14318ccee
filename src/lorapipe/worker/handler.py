"""The RunPod handler: one job input in, the engine as a child process, progress out, a result back.

Why it is asynchronous: the runpod SDK runs the handler on its event loop, and the same loop polls the
job-stop channel (a cancel or an execution timeout). A blocking handler would hold the loop for hours
and never hear the stop; this one awaits the child's output, so a stop arrives as ``CancelledError``:
the engine gets SIGTERM, saves and mirrors a checkpoint (exit 3), its events are read to the end and
the event log is stored before the handler gives up the job. A SIGTERM to the worker process itself (the
platform scaling the worker down) reaches the engine the same way.

RunPod re-runs a job, same input, when its worker died mid-run: the job's checkpoints are then already in
the store, and the engine resumes from the newest one.

What it never does: put a secret in its output, its progress or its logs (credentials stay in the
worker's environment; the engine's stderr tail is returned, and the engine prints no secrets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lorapipe.contract.events import ExitCode
from lorapipe.contract.serverless import ServerlessInput, ServerlessOutput, ServerlessProgress
from lorapipe.errors import ConfigError, LorapipeError
from lorapipe.settings import Settings, get_settings
from lorapipe.storage import ObjectStore, storage_options_for
from lorapipe.worker.relay import ProgressRelay

log = logging.getLogger("lorapipe.worker")

ENGINE = (sys.executable, "-m", "lorapipe.training")
STDERR_TAIL_BYTES = 2000
LINE_LIMIT = 1 << 20

#: Sends one progress payload to RunPod (``runpod.serverless.progress_update``); replaced in-process
#: only by the SDK itself.
ProgressSender = Callable[[dict[str, Any], dict[str, Any]], None]


def _send_progress(job: dict[str, Any], payload: dict[str, Any]) -> None:
    import runpod

    runpod.serverless.progress_update(job, payload)


def _failure(attempt_id: str, exit_code: int, error: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A finished-but-failed output: RunPod takes ``error`` (a string) and marks the job FAILED."""
    output = ServerlessOutput(attempt_id=attempt_id, exit_code=exit_code, engine_error=error, **extra)
    # RunPod's ``error`` is a string, and some servers drop ``output`` next to it (the SDK's local one
    # does): the error carries what the service needs as JSON.
    reason = {k: error.get(k) for k in ("code", "kind", "message", "param") if error.get(k) is not None}
    return {
        **output.model_dump(mode="json"),
        "error": json.dumps({"kind": "system", **reason, "exit_code": exit_code}),
        "refresh_worker": True,
    }


def _attempt_of(raw: Any) -> str:
    value = raw.get("attempt_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else "unknown"


async def handle(job: dict[str, Any], send: ProgressSender = _send_progress) -> dict[str, Any]:
    """The handler ``runpod.serverless.start`` calls with ``{"id": ..., "input": ...}``."""
    settings = get_settings()
    try:
        request = ServerlessInput.parse(job.get("input"))
    except ConfigError as exc:
        log.error("job %s: input refused: %s", job.get("id"), exc.message)
        return _failure(_attempt_of(job.get("input")), int(ExitCode.USER_ERROR), exc.to_dict())
    work = settings.worker_dir / request.attempt_id
    try:
        return await _run(job, request, work, settings, send)
    except LorapipeError as exc:
        log.error("job %s: %s", job.get("id"), exc.message)
        return _failure(request.attempt_id, int(ExitCode.SYSTEM_ERROR), exc.to_dict())


def _engine_spec(request: ServerlessInput, settings: Settings) -> str:
    spec = request.spec
    if spec.model_cache_dir is None:  # the network volume's cache, where the endpoint's models are
        spec = spec.model_copy(update={"model_cache_dir": str(settings.worker_model_cache_dir)})
    return spec.to_json()


async def _run(
    job: dict[str, Any], request: ServerlessInput, work: Path, settings: Settings, send: ProgressSender
) -> dict[str, Any]:
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    spec_path = work / "spec.json"
    spec_path.write_text(_engine_spec(request, settings), "utf-8")
    events_path, stderr_path = work / "events.jsonl", work / "engine.stderr.log"
    resume = request.resume or _ran_before(request, settings)
    engine = settings.worker_engine_command or ENGINE
    argv = [*engine, "run", str(spec_path), "--out", str(out), *(["--resume"] if resume else [])]
    relay = ProgressRelay(request.attempt_id, settings.worker_progress_interval_s)
    # This run's tag on each event: RunPod may run the job again on another machine, whose engine
    # numbers its events from 1 again (runpod_answers.renumbered keeps the two runs apart).
    run = uuid.uuid4().hex[:12]
    log.info(
        "job %s: attempt %s starting the engine%s",
        job.get("id"),
        request.attempt_id,
        " with --resume" if resume else "",
    )
    with stderr_path.open("wb") as stderr, events_path.open("ab") as events_log:
        child = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=stderr, start_new_session=True, limit=LINE_LIMIT
        )
        previous = _forward_sigterm(child.pid)
        try:
            await _relay(child, relay, events_log, job, send, run)
            code = await child.wait()
        except asyncio.CancelledError:
            log.warning("job %s: stop requested; the engine saves a checkpoint", job.get("id"))
            # Go on reading the engine's events until it exits: the checkpoint it saves now and its
            # "cancelled" result reach the service only through the stored log (RunPod drops progress
            # sent after a stop). Nothing is sent to RunPod any more.
            drain = _relay(child, relay, events_log, job, lambda job, payload: None, run)
            await _stop(child, drain, settings.worker_cancel_grace_s)
            events_log.flush()
            _store_events(events_path, request.events_uri, settings)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
    stored = _store_events(events_path, request.events_uri, settings)
    if relay.seq:
        send(job, relay.payload().model_dump(mode="json"))
    extra = {
        "seq": relay.seq,
        "events": relay.events(),
        "events_uri": stored,
        "stderr_tail": _tail(stderr_path),
    }
    if code == ExitCode.SUCCESS:
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        output = ServerlessOutput(attempt_id=request.attempt_id, exit_code=0, manifest=manifest, **extra)
        return {**output.model_dump(mode="json"), "refresh_worker": True}
    error = dict(relay.error or {}) or {
        "code": "engine_failed" if code > 0 else "engine_killed",
        "kind": "system",
        "message": f"the engine exited with code {code}",
    }
    error = {k: v for k, v in error.items() if k not in ("seq", "time", "type")}
    return _failure(request.attempt_id, code, error, **extra)


def _ran_before(request: ServerlessInput, settings: Settings) -> bool:
    """Whether the job's checkpoints are already in the store although the service did not ask to resume:
    RunPod runs a job again, same input, when its worker died mid-run (re-queued), and the run should go
    on from the newest checkpoint, not from step 0 (``--resume`` fetches it)."""
    uri = request.spec.output.checkpoint_uri
    if not uri:
        return False
    try:
        keys = ObjectStore(uri, **storage_options_for(uri, settings)).list()
    except (OSError, LorapipeError):
        return False  # the engine reports an unusable store itself
    return any(key.endswith("/_complete") for key in keys)


async def _relay(
    child: asyncio.subprocess.Process,
    relay: ProgressRelay,
    events_log: Any,
    job: dict[str, Any],
    send: ProgressSender,
    run: str,
) -> None:
    assert child.stdout is not None
    while line := await child.stdout.readline():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # not an event (the engine sends its own logs to stderr)
        if not isinstance(event, dict):
            continue
        event["run"] = run
        events_log.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        relay.add(event)
        if relay.due():
            events_log.flush()
            send(job, relay.payload().model_dump(mode="json"))


def _forward_sigterm(pid: int) -> Any:
    """SIGTERM to this worker goes on to the engine (which checkpoints); the SDK's own handler still
    runs, so the worker shuts down once the job has ended."""
    previous = signal.getsignal(signal.SIGTERM)

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, forward)
    return previous


async def _stop(child: asyncio.subprocess.Process, drain: Awaitable[None], grace_s: float) -> None:
    """SIGTERM to the engine (it checkpoints and exits) while ``drain`` reads the rest of its output;
    SIGKILL when both have not ended within ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)

    async def ended() -> None:
        await drain
        await child.wait()

    try:
        await asyncio.wait_for(ended(), timeout=grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        await child.wait()


def _store_events(path: Path, uri: str | None, settings: Settings) -> str | None:
    """Upload the complete event log; None when there is nowhere to put it or the upload failed (the
    progress payloads and the result still carry every lifecycle event)."""
    if not uri or not path.exists():
        return None
    folder, _, name = uri.rstrip("/").rpartition("/")
    try:
        with path.open("rb") as handle:
            ObjectStore(folder, **storage_options_for(uri, settings)).put(name, handle)
    except (OSError, LorapipeError) as exc:
        log.error("the event log could not be stored: %s", type(exc).__name__)
        return None
    return uri


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - STDERR_TAIL_BYTES))
        return handle.read().decode("utf-8", "replace").strip()


def progress_events(output: Any) -> list[dict[str, Any]]:
    """The engine events in a RunPod ``output`` (a progress payload or a result), else none."""
    if not isinstance(output, dict) or output.get("kind") not in ("lorapipe.progress", "lorapipe.result"):
        return []
    try:
        return ServerlessProgress.model_validate(output).events
    except ValueError:
        return []
