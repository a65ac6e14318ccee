"""The contract every backend (local child process, RunPod serverless, RunPod pod) implements.

A backend starts the engine for one attempt and reports what it did: the engine's events (raw
dicts with a ``seq``), whether the run is still going, and how it ended. It never touches the
database: the reconciler owns every state change. Artifacts never pass through a backend: the engine
uploads them to the store URLs in the spec (:mod:`lorapipe.jobs.layout`), wherever it runs. Handles are plain JSON so they survive a
service restart in ``attempts.handle``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

RunState = Literal["running", "exited", "lost"]


@dataclass(frozen=True)
class Submission:
    """What the reconciler asks a backend to run."""

    job_id: str
    attempt_id: str
    #: The TrainingJobSpec as a JSON-ready dict (validated by the caller and again by the engine).
    spec: dict[str, Any]
    #: Continue from the last checkpoint in the job's output (a retry after a crash or preemption).
    resume: bool = False
    #: The job's time limit in seconds (None = none): rented backends pass it on as their own timeout.
    timeout_s: int | None = None


@dataclass
class PollResult:
    """What happened since the last poll."""

    #: New engine events in stream order (each a dict with ``seq`` and ``type``).
    events: list[dict[str, Any]] = field(default_factory=list)
    #: ``running``; ``exited`` (``exit_code`` set); ``lost`` (the process is gone and how it ended is
    #: unknown, e.g. after a service restart).
    state: RunState = "running"
    exit_code: int | None = None
    #: Updated handle to store (e.g. a new read offset).
    handle: dict[str, Any] = field(default_factory=dict)
    #: Last lines of the run's stderr when it ended, for the failure message.
    stderr_tail: str = ""
    #: Why the run ended, when the backend knows better than the exit code (``code``, ``kind``,
    #: ``message``): a provider's timeout, an expired queue slot, a worker that crashed.
    error: dict[str, Any] | None = None


class Backend(Protocol):
    """A place jobs run. Implementations live next to this module and are listed in the registry."""

    name: str

    def free_slots(self) -> int:
        """How many more attempts this backend accepts now (0 = at capacity)."""
        ...

    def submit(self, submission: Submission) -> dict[str, Any]:
        """Start the attempt; return its handle (JSON-ready). Raises CapacityError when full."""
        ...

    def poll(self, handle: dict[str, Any]) -> PollResult:
        """New events and the run's state. Safe to call after a restart with a stored handle."""
        ...

    def cancel(self, handle: dict[str, Any], *, force: bool = False) -> None:
        """Ask the run to stop (SIGTERM: checkpoint and exit); ``force`` kills it outright."""
        ...


def event_lines(data: bytes) -> list[dict[str, Any]]:
    """The engine events in JSON-lines ``data``: each line that is a JSON object with an integer ``seq``
    and a ``type``; anything else (stray output, a line cut by a kill) is skipped."""
    events: list[dict[str, Any]] = []
    for raw in data.splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if (
            isinstance(event, dict)
            and isinstance(event.get("seq"), int)
            and isinstance(event.get("type"), str)
        ):
            events.append(event)
    return events


def in_seq_order(events: list[dict[str, Any]], after: int = 0) -> list[dict[str, Any]]:
    """The events with an integer ``seq`` above ``after``, each ``seq`` once (the last one listed wins),
    in ``seq`` order."""
    kept = {e["seq"]: e for e in events if isinstance(e.get("seq"), int) and e["seq"] > after}
    return [kept[k] for k in sorted(kept)]
