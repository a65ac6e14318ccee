"""Rows as OpenAI objects (``file``, ``fine_tuning.job``, ``fine_tuning.job.event``,
``fine_tuning.job.checkpoint``, ``model``, ``list``); our extras are additional fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lorapipe.db.jobs import Adapter, Checkpoint, FileObject, Job, JobEvent

T = TypeVar("T")


def ts(value: dt.datetime | None) -> int | None:
    """Unix seconds, as OpenAI's ``created_at`` fields."""
    return int(value.timestamp()) if value is not None else None


def file_object(row: FileObject) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": ts(row.created_at),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "status_details": row.status_details,
        "expires_at": None,
        "dataset_id": row.dataset_id,
    }


def job_object(row: Job) -> dict[str, Any]:
    error = row.error or None
    return {
        "id": row.id,
        "object": "fine_tuning.job",
        "created_at": ts(row.created_at),
        "finished_at": ts(row.finished_at),
        "model": row.model,
        "fine_tuned_model": row.fine_tuned_model,
        "organization_id": row.owner_id,
        "status": row.status,
        "status_reason": row.status_reason,
        "training_file": row.training_file,
        "validation_file": row.validation_file,
        "hyperparameters": row.hyperparameters,
        "result_files": [],
        "trained_tokens": row.trained_tokens,
        "seed": row.seed,
        "suffix": row.suffix,
        "user_provided_suffix": row.suffix,
        "metadata": row.meta,
        "error": error,
        "estimated_finish": None,
        "integrations": [],
        "method": {"type": "supervised"},
        "backend": row.backend,
        "estimate": row.estimate,
        "preset": (row.spec.get("config") or {}).get("preset"),
        "started_at": ts(row.started_at),
    }


def event_object(row: JobEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "fine_tuning.job.event",
        "created_at": ts(row.created_at),
        "level": row.level,
        "message": row.message,
        "type": "metrics" if row.type == "metrics" else "message",
        "data": row.data or {},
        "seq": row.seq,
    }


def checkpoint_object(row: Checkpoint, job: Job) -> dict[str, Any]:
    metrics = row.metrics or {}
    return {
        "id": row.id,
        "object": "fine_tuning.job.checkpoint",
        "created_at": ts(row.created_at),
        "fine_tuning_job_id": job.id,
        "fine_tuned_model_checkpoint": f"{job.fine_tuned_model or 'ft:' + job.model + ':' + job.id}:ckpt-step-{row.step}",
        "step_number": row.step,
        "metrics": {
            "step": row.step,
            "train_loss": metrics.get("loss"),
            "valid_loss": metrics.get("eval_loss"),
            "full_valid_loss": metrics.get("eval_loss"),
        },
    }


def model_object(model_id: str, created: dt.datetime | None, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": ts(created) or 0, "owned_by": owned_by}


def adapter_model(row: Adapter) -> dict[str, Any]:
    return model_object(row.name, row.created_at, row.owner_id)


def list_object(items: Iterable[T], to_dict: Callable[[T], dict[str, Any]], has_more: bool) -> dict[str, Any]:
    data = [to_dict(item) for item in items]
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
