"""Reading RunPod's answers: the engine events in a job's ``output`` (our worker's progress or result),
the worker's own error (JSON in RunPod's ``error`` string), and short reasons for the rest."""

from __future__ import annotations

import json
from typing import Any

import httpx


def events_of(output: Any) -> list[dict[str, Any]]:
    if not isinstance(output, dict) or output.get("kind") not in ("lorapipe.progress", "lorapipe.result"):
        return []
    events = output.get("events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def renumbered(
    runs: dict[str, int], seen: int, events: list[dict[str, Any]]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """``events`` in the attempt's own numbering, and the runs' offsets (kept in the handle).

    RunPod runs a job again, same input, when its worker died: the attempt is then one RunPod job with
    two worker runs. On a fresh disk (another machine, the usual case) the engine's ``seq`` starts over
    at 1, and those events would be taken for ones already stored. So our worker tags each event with
    its run (``run``), and a run first met here is numbered after every event seen so far (``seen``, or
    higher in this list): its ``seq`` plus that offset. The ``run`` tag is dropped. An event without one
    (an older worker) keeps its ``seq``."""
    runs = dict(runs)
    top, out = seen, []
    for event in events:
        seq, run = event.get("seq"), event.get("run")
        if not isinstance(seq, int):
            continue
        if isinstance(run, str):
            offset = runs.setdefault(run, top)
            event = {**{k: v for k, v in event.items() if k != "run"}, "seq": seq + offset}
        top = max(top, int(event["seq"]))
        out.append(event)
    return runs, out


def worker_error(error: Any) -> dict[str, Any] | None:
    """The error our worker returns: JSON with ``code``, ``kind``, ``message`` and ``exit_code``."""
    try:
        data = json.loads(error) if isinstance(error, str) else None
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("code"), str) and isinstance(data.get("message"), str):
        return {k: data[k] for k in ("code", "kind", "message", "param", "exit_code") if k in data}
    return None


def short(error: Any) -> str:
    """RunPod's error for a handler crash is a JSON string with a traceback: keep its message only."""
    if isinstance(error, str):
        try:
            data = json.loads(error)
        except ValueError:
            return error[:300]
        if isinstance(data, dict):
            return str(data.get("error_message") or data.get("error_type") or "")[:300]
        return error[:300]
    return "no reason given"


def reason(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")
