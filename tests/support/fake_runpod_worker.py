"""A tiny RunPod handler for the fake-RunPod tests only: ``python -m fake_runpod_worker``.

It is started through the real SDK entry point, ``runpod.serverless.start``, so the fake is exercised by
the SDK's own worker loop (or, with ``--rp_serve_api``, by the SDK's local test server).

``job["input"]["mode"]`` picks the behaviour:

* ``echo`` (default): returns ``{"echo": input["value"]}``;
* ``sleep``: a plain ``def`` handler path; sleeps ``seconds`` in ``steps`` steps, calling
  ``runpod.serverless.progress_update(job, {"step": i, "steps": n})`` before each; returns ``{"slept": s}``;
* ``async_sleep``: the same as a coroutine (the SDK awaits what the handler returns), so a stop signal
  cancels it; it prints ``fake-worker: job <id> cancelled`` and re-raises, as a handler must;
* ``raise``: raises ``RuntimeError(input["message"])``;
* ``error``: returns ``{"error": input["message"]}`` (the SDK reports that as a failure);
* ``exit``: ends the process at once with ``input["code"]`` (default 3), as a crash or OOM kill would;
  with ``input["once_marker"]`` set to a path, only when that file does not exist yet (it is created),
  so a re-queued attempt on a relaunched worker then succeeds with an echo;
* ``refresh``: echoes and returns ``refresh_worker: True`` (the SDK then asks for a fresh worker).

Environment: ``FAKE_WORKER_GENERATOR=1`` starts a generator handler instead (yields ``{"step": i}`` for
``input["steps"]`` steps, ``input["interval"]`` s apart, with ``return_aggregate_stream``);
``FAKE_WORKER_REFRESH=1`` passes ``refresh_worker: True`` to ``start``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import runpod


def handler(job: dict[str, Any]) -> Any:
    params = job.get("input") or {}
    mode = params.get("mode", "echo")
    if mode == "echo":
        return {"echo": params.get("value")}
    if mode == "sleep":
        return _sleep(job, float(params.get("seconds", 1.0)), int(params.get("steps", 1)))
    if mode == "async_sleep":
        return _async_sleep(job, float(params.get("seconds", 1.0)), int(params.get("steps", 1)))
    if mode == "raise":
        raise RuntimeError(params.get("message", "boom"))
    if mode == "error":
        return {"error": params.get("message", "the handler reported an error")}
    if mode == "exit":
        marker = params.get("once_marker")
        if marker is None or not Path(marker).exists():
            if marker is not None:
                Path(marker).touch()
            print(f"fake-worker: job {job['id']} exits the process", flush=True)
            os._exit(int(params.get("code", 3)))
        return {"echo": params.get("value")}
    if mode == "refresh":
        return {"echo": params.get("value"), "refresh_worker": True}
    raise ValueError(f"unknown mode {mode!r}")


def _sleep(job: dict[str, Any], seconds: float, steps: int) -> dict[str, Any]:
    for step in range(steps):
        runpod.serverless.progress_update(job, {"step": step + 1, "steps": steps})
        time.sleep(seconds / steps)
    return {"slept": seconds}


def _async_sleep(job: dict[str, Any], seconds: float, steps: int) -> Coroutine[Any, Any, dict[str, Any]]:
    async def run() -> dict[str, Any]:
        try:
            for step in range(steps):
                runpod.serverless.progress_update(job, {"step": step + 1, "steps": steps})
                await asyncio.sleep(seconds / steps)
        except asyncio.CancelledError:
            print(f"fake-worker: job {job['id']} cancelled", flush=True)
            raise
        return {"slept": seconds}

    return run()


def generator_handler(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    params = job.get("input") or {}
    for step in range(int(params.get("steps", 3))):
        time.sleep(float(params.get("interval", 0.2)))
        yield {"step": step + 1}


def main() -> None:
    config: dict[str, Any] = {"handler": handler}
    if os.environ.get("FAKE_WORKER_GENERATOR") == "1":
        config = {"handler": generator_handler, "return_aggregate_stream": True}
    if os.environ.get("FAKE_WORKER_REFRESH") == "1":
        config["refresh_worker"] = True
    runpod.serverless.start(config)


if __name__ == "__main__":
    main()
