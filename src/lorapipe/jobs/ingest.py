"""Turning the engine's JSON-line events into rows: events, metric points, checkpoints.

Idempotent by ``(attempt_id, engine seq)``: reading the same stream twice (a restarted reconciler,
a re-polled provider) adds nothing the second time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.db.base import utcnow
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Attempt, Checkpoint, MetricPoint
from lorapipe.jobs.events import append_event, engine_seqs_seen

_LEVEL = {"error": "error", "warning": "warn"}


def _message(event: dict[str, Any]) -> tuple[str, str]:
    """The OpenAI-style event ``type`` (message or metrics) and a one-line human message."""
    kind = event["type"]
    if kind == "metrics":
        phase = event.get("phase", "train")
        step, total = event.get("step"), event.get("total_steps")
        if phase == "eval":
            return "metrics", f"Step {step}/{total}: eval loss={event.get('eval_loss')}"
        return "metrics", f"Step {step}/{total}: training loss={event.get('loss')}"
    if kind == "stage":
        detail = f": {event['message']}" if event.get("message") else ""
        return "message", f"Stage {event.get('stage')}{detail}"
    if kind == "checkpoint":
        return "message", f"Checkpoint saved at step {event.get('step')}"
    if kind in ("warning", "error"):
        return "message", f"{kind.capitalize()} {event.get('code')}: {event.get('message')}"
    if kind == "result":
        return "message", f"Engine finished: {event.get('status')}"
    if kind == "distributed":
        return (
            "message",
            f"Training on {event.get('world_size')} process(es), {event.get('mode')}: {event.get('reason')}",
        )
    return "message", kind


def ingest_engine_events(session: Session, attempt: Attempt, events: list[dict[str, Any]]) -> int:
    """Store every new event of ``attempt``; return how many were new. The caller commits."""
    added = 0
    seen = engine_seqs_seen(session, attempt.id, [int(e["seq"]) for e in events])
    for event in events:
        seq = int(event["seq"])
        if seq in seen:
            continue
        seen.add(seq)
        api_type, message = _message(event)
        data = {k: v for k, v in event.items() if k not in ("seq",)}
        data["engine_type"] = event["type"]
        if event["type"] == "metrics":
            # The names OpenAI's metrics events use, next to the engine's own.
            data.update({"train_loss": event.get("loss"), "valid_loss": event.get("eval_loss")})
        append_event(
            session,
            attempt.job_id,
            type=api_type,
            message=message,
            level=_LEVEL.get(event["type"], "info"),
            data=data,
            attempt_id=attempt.id,
            engine_seq=seq,
        )
        if event["type"] == "metrics" and isinstance(event.get("step"), int):
            values = {k: v for k, v in event.items() if k not in ("seq", "type", "time", "step")}
            session.add(
                MetricPoint(job_id=attempt.job_id, attempt_id=attempt.id, step=event["step"], values=values)
            )
        elif event["type"] == "checkpoint" and isinstance(event.get("step"), int):
            _record_checkpoint(session, attempt, event)
        elif event["type"] == "error":
            handle = dict(attempt.handle)
            handle["engine_error"] = {k: event.get(k) for k in ("code", "kind", "message", "param", "hint")}
            attempt.handle = handle
        elif event["type"] == "result":
            attempt.handle = {
                **attempt.handle,
                "engine_result": {k: v for k, v in event.items() if k != "seq"},
            }
        added += 1
    if added:
        attempt.last_event_at = utcnow()
    return added


def _record_checkpoint(session: Session, attempt: Attempt, event: dict[str, Any]) -> None:
    step = int(event["step"])
    exists = session.scalar(
        select(Checkpoint.id).where(Checkpoint.job_id == attempt.job_id, Checkpoint.step == step)
    )
    if exists is not None:
        return  # a resumed attempt re-announcing a checkpoint the earlier one saved
    metrics = session.scalars(
        select(MetricPoint)
        .where(MetricPoint.job_id == attempt.job_id, MetricPoint.step <= step)
        .order_by(MetricPoint.step.desc(), MetricPoint.id.desc())
        .limit(4)
    ).all()
    merged: dict[str, Any] = {"step": step}
    for point in reversed(metrics):
        merged.update({k: v for k, v in point.values.items() if v is not None})
    session.add(
        Checkpoint(
            id=new_id("checkpoint"),
            job_id=attempt.job_id,
            attempt_id=attempt.id,
            step=step,
            location=str(event.get("path", "")),
            metrics=merged,
        )
    )
