"""The engine's event stream, as a schema: what ``python -m lorapipe.training run`` prints, one JSON
object per line, and what every consumer (local backend, RunPod worker relay, ingestion) parses.

Every event has ``seq`` (int, from 1, strictly increasing; a resumed run continues after the last one
in its ``metrics.jsonl``), ``time`` (ISO 8601 UTC) and ``type``:

- ``stage``: ``stage`` in :data:`STAGES`, optional ``message``.
- ``metrics``: ``phase`` ("train" or "eval"), ``step``, ``total_steps``, ``epoch``; train: ``loss``,
  ``lr``, ``grad_norm``; eval: ``eval_loss``, ``eval_perplexity``; both: ``trained_tokens`` (label tokens
  so far), ``tokens_per_s`` (trained tokens per second since start), ``elapsed_s``, ``eta_s``,
  ``peak_memory_bytes``.
- ``checkpoint``: ``step``, ``path`` (relative to the output dir), ``best``.
- ``distributed``: how the run uses its devices, decided before loading the model: ``mode``
  (single|ddp|fsdp), ``world_size`` (processes), ``gpus_requested``, ``reason``; when measured,
  ``model_bytes`` (the base weights as trained) and ``device_memory_bytes`` (per device).
- ``warning``: ``code``, ``message``.
- ``error``: ``code``, ``kind`` (user|system|capacity|timeout), ``message``, ``param``, ``hint``; a
  failed rank of a multi-process run adds ``rank`` and ``stderr_tail`` (its last stderr lines).
- ``result``: ``status`` (succeeded|failed|cancelled), ``exit_code``; on success ``manifest`` (file name
  in the output dir) and ``metrics`` (the run's summary, e.g. ``trained_tokens``); on cancel
  ``checkpoint``.

Non-finite floats travel as ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Stage = Literal["downloading", "loading_model", "tokenizing", "training", "evaluating", "saving", "uploading"]
STAGES: tuple[Stage, ...] = (
    "downloading",
    "loading_model",
    "tokenizing",
    "training",
    "evaluating",
    "saving",
    "uploading",
)
EventType = Literal["stage", "metrics", "checkpoint", "distributed", "warning", "error", "result"]
EVENT_TYPES: tuple[EventType, ...] = (
    "stage",
    "metrics",
    "checkpoint",
    "distributed",
    "warning",
    "error",
    "result",
)
DistributedMode = Literal["single", "ddp", "fsdp"]
ErrorKind = Literal["user", "system", "capacity", "timeout"]


class ExitCode(enum.IntEnum):
    """Exit codes of ``python -m lorapipe.training``; the ``result`` event carries the same number."""

    SUCCESS = 0  # adapter and manifest written (and uploaded when asked)
    SYSTEM_ERROR = 1  # not the caller's fault (bug, disk, network); retrying may help
    USER_ERROR = 2  # bad spec/config/data, missing model, out of memory, NaN loss: fix, then rerun
    CANCELLED = 3  # SIGTERM/SIGINT: a checkpoint was saved when training had started; no final adapter


class _Event(BaseModel):
    # Unknown fields are allowed so that an older service can read a newer engine's events.
    model_config = ConfigDict(extra="allow", frozen=True)

    seq: int = Field(ge=1)
    time: str


class StageEvent(_Event):
    type: Literal["stage"]
    stage: Stage
    message: str | None = None


class MetricsEvent(_Event):
    type: Literal["metrics"]
    phase: Literal["train", "eval"]
    step: int = Field(ge=0)
    total_steps: int = Field(ge=0)
    epoch: float
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    eval_loss: float | None = None
    eval_perplexity: float | None = None
    trained_tokens: int | None = None
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None
    peak_memory_bytes: int | None = None


class CheckpointEvent(_Event):
    type: Literal["checkpoint"]
    step: int = Field(ge=0)
    path: str
    best: bool = False


class DistributedEvent(_Event):
    type: Literal["distributed"]
    mode: DistributedMode
    world_size: int = Field(ge=1)
    gpus_requested: int = Field(ge=1)
    reason: str
    model_bytes: int | None = None
    device_memory_bytes: int | None = None


class WarningEvent(_Event):
    type: Literal["warning"]
    code: str
    message: str


class ErrorEvent(_Event):
    type: Literal["error"]
    code: str
    kind: ErrorKind
    message: str
    param: str | None = None
    hint: str | None = None
    rank: int | None = None
    stderr_tail: list[str] | None = None


class ResultEvent(_Event):
    type: Literal["result"]
    status: Literal["succeeded", "failed", "cancelled"]
    exit_code: int
    manifest: str | None = None
    metrics: dict[str, Any] | None = None
    checkpoint: str | None = None


Event = Annotated[
    StageEvent | MetricsEvent | CheckpointEvent | DistributedEvent | WarningEvent | ErrorEvent | ResultEvent,
    Field(discriminator="type"),
]
_EVENT = TypeAdapter(Event)


def parse_event(data: dict[str, Any]) -> Event:
    """Validate one decoded event line; raises pydantic's ``ValidationError`` naming the bad field."""
    return _EVENT.validate_python(data)
