"""ORM rows of the job service: files, jobs, attempts, events, metric points, checkpoints, adapters,
idempotency keys.

``Job.status`` is written only by :func:`lorapipe.jobs.transition.transition`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lorapipe.contract.job_states import ATTEMPT_STATUS_VALUES, STATUS_VALUES
from lorapipe.db.base import Base, JSONDocument, UTCDateTime, utcnow


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


FILE_STATUS_VALUES = ("uploaded", "processed", "error")
JOB_KIND_VALUES = ("fine_tune", "evaluation")
FILE_PURPOSE_VALUES = ("fine-tune",)
EVENT_LEVEL_VALUES = ("info", "warn", "error")


class FileObject(Base):
    """An OpenAI file object; a ``fine-tune`` upload is validated into a dataset (``dataset_id``)."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint(_in("status", FILE_STATUS_VALUES), name="status"),
        CheckConstraint(_in("purpose", FILE_PURPOSE_VALUES), name="purpose"),
        Index("ix_files_owner_id_created_at", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    status_details: Mapped[str | None] = mapped_column(Text, default=None)
    #: The datasets row made from this upload (owned by the datasets service).
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), index=True, default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", STATUS_VALUES), name="status"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
        CheckConstraint(_in("kind", JOB_KIND_VALUES), name="kind"),
        Index("ix_jobs_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_jobs_status_not_before", "status", "not_before"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(32))
    #: ``fine_tune`` trains an adapter; ``evaluation`` measures one (its row in ``evaluations``).
    kind: Mapped[str] = mapped_column(String(16), default="fine_tune", server_default="fine_tune")
    #: Why the job is in its status (the reason of the last transition).
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    model: Mapped[str] = mapped_column(String(255))
    training_file: Mapped[str] = mapped_column(ForeignKey("files.id"))
    validation_file: Mapped[str | None] = mapped_column(ForeignKey("files.id"), default=None)
    suffix: Mapped[str | None] = mapped_column(String(64), default=None)
    seed: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(32))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: The TrainingJobSpec sent to the engine (versioned JSON), frozen at creation.
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDocument, default=None)
    #: ``{code, message, param, kind}`` once the job failed.
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    fine_tuned_model: Mapped[str | None] = mapped_column(String(255), default=None)
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    #: Wall-clock limit of one attempt, in seconds.
    timeout_s: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Backoff: the reconciler does not pick the job before this time.
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Highest per-job event ``seq`` handed out; bumped atomically when an event is appended.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Attempt(Base):
    """One try of a job on one backend: its provider handle, heartbeat and exit information."""

    __tablename__ = "attempts"
    __table_args__ = (
        CheckConstraint(_in("status", ATTEMPT_STATUS_VALUES), name="status"),
        UniqueConstraint("job_id", "number"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="starting")
    #: Backend-specific handle (local: pid, work dir, stdout offset; RunPod: request id).
    handle: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: The reconciler instance that supervises the attempt (``host:pid:nonce``).
    worker_id: Mapped[str | None] = mapped_column(String(200), index=True, default=None)
    resume: Mapped[bool] = mapped_column(default=False)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_event_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    term_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    exit_reason: Mapped[str | None] = mapped_column(Text, default=None)


class JobEvent(Base):
    """Append-only event log. ``seq`` orders a job's events; ``(attempt_id, engine_seq)`` makes
    ingestion of the engine's stream idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(_in("level", EVENT_LEVEL_VALUES), name="level"),
        UniqueConstraint("job_id", "seq"),
        UniqueConstraint("attempt_id", "engine_seq"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    attempt_id: Mapped[str | None] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), default=None
    )
    engine_seq: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level: Mapped[str] = mapped_column(String(8), default="info")
    #: ``status`` (a transition), ``message``, ``metrics``, ``checkpoint``, ``stage``, ``warning`` ...
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)


class MetricPoint(Base):
    """Training metrics at one step (loss, eval_loss, lr, grad_norm, tokens/s, ...)."""

    __tablename__ = "metric_points"
    __table_args__ = (
        Index("ix_metric_points_job_id_step", "job_id", "step"),
        Index("ix_metric_points_job_id_id", "job_id", "id"),  # a job's latest points (its progress)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("job_id", "step"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    #: Where the checkpoint lives (a path under the attempt's output or an object-store key).
    location: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Adapter(Base):
    """A trained adapter, recorded only after its manifest checksums were verified."""

    __tablename__ = "adapters"
    #: Names are the owner's model ids: two users may each have an adapter of one name.
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_adapters_owner_id_created_at", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    #: The OpenAI ``fine_tuned_model`` name, e.g. ``ft:tiny-qwen3:demo:ftjob-...``.
    name: Mapped[str] = mapped_column(String(255))
    base_model: Mapped[str] = mapped_column(String(255))
    location: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Evaluation(Base):
    """An adapter measured against its base by an evaluation job; ``result`` is the engine's
    ``evaluation.json``, read from the store once the job's artifacts verified."""

    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    adapter_id: Mapped[str] = mapped_column(ForeignKey("adapters.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    #: The file evaluated on, or None for the adapter's own held-out split.
    file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id"), default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyKey(Base):
    """``Idempotency-Key`` of a create request: same key + same body answers the same resource."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner_id", "key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the canonical JSON request body.
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
