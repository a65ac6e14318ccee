"""Wakes this process's reconciler when a job is queued, so it dispatches now instead of at its next tick
(up to ``interval_s`` later): with a warm engine that wait would be most of a job's time to its first
event. Only the same process is woken; a reconciler in another process (``lorapipe worker``) still finds
the job on its next tick."""

from __future__ import annotations

import threading

_queued = threading.Event()


def job_queued() -> None:
    """Call after the commit that queued a job (before it, the reconciler would not see the job)."""
    _queued.set()


def wait(stop: threading.Event, timeout_s: float) -> None:
    """Sleep up to ``timeout_s``; return early when a job is queued or ``stop`` is set."""
    step = min(0.1, timeout_s)  # two events cannot be waited on at once: look at ``stop`` this often
    remaining = timeout_s
    while remaining > 0 and not stop.is_set():
        if _queued.wait(min(step, remaining)):
            return
        remaining -= step


def clear() -> None:
    """Forget earlier wake-ups: called when a tick starts, as the tick sees every job queued before."""
    _queued.clear()
