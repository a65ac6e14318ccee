"""Adapter evaluations: a job like any other (queued, run by a backend, retried, cancelled, costed)
whose engine task measures a finished adapter against its base (:mod:`lorapipe.training.evaluate`).

Creating one checks the adapter is the caller's, builds an evaluation spec from the adapter's own
training spec (same model, chat template, max_length, split and seed), and queues a job of kind
``evaluation``; when its artifacts verify, the attempt's ending (:mod:`.attempt_end`) keeps the engine's
``evaluation.json`` on the evaluation row. Another user's adapter or evaluation is "not found".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.backends.registry import admit_job
from lorapipe.contract.job_states import JobStatus
from lorapipe.contract.spec import EvaluationRef, TrainingJobSpec
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Evaluation, Job
from lorapipe.jobs.transition import transition
from lorapipe.services import dispatch_wake
from lorapipe.services.adapters import adapter_row
from lorapipe.services.jobs import check_active_jobs, data_ref, file_id_of
from lorapipe.services.public import ts
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

EVALUATION_ATTEMPTS = 2


class EvaluationRequest(BaseModel):
    """``POST /api/adapters/{id}/evaluations``: every field optional."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = Field(
        default=None,
        max_length=64,
        description="A processed file or dataset id to evaluate on, whole; default: the held-out part "
        "of the adapter's own training data (its validation file when it had one).",
    )
    backend: str | None = Field(default=None, max_length=32, description="Default: the training job's.")
    generate: int = Field(default=8, ge=0, le=200, description="Prompts for the end-of-turn check.")
    max_new_tokens: int = Field(
        default=128, ge=1, le=4096, description="A reply must end within this many tokens."
    )


class EvaluationPublic(BaseModel):
    id: str
    object: Literal["adapter.evaluation"] = "adapter.evaluation"
    adapter_id: str
    job_id: str = Field(description="The evaluation job: its status, events and cost as any job's.")
    status: str
    file: str | None = Field(description="The file evaluated on; null: the adapter's held-out split.")
    created_at: int
    error: dict[str, Any] | None
    summary: dict[str, Any] | None = Field(
        description="Examples, tokens, base and adapter loss, perplexity and end-of-turn share, once done."
    )
    categories: dict[str, list[dict[str, Any]]] | None = Field(
        description="Per scaffolding key and value (persona, arc, topic): base vs adapter."
    )
    end_of_turn: dict[str, Any] | None = Field(
        description="The greedy replies of both models, and ended or not."
    )

    @classmethod
    def of(cls, row: Evaluation, job: Job) -> EvaluationPublic:
        result = row.result or {}
        return cls(
            id=row.id,
            adapter_id=row.adapter_id,
            job_id=row.job_id,
            status=job.status,
            file=row.file_id,
            created_at=ts(row.created_at),
            error=job.error,
            summary=result.get("summary"),
            categories=result.get("categories"),
            end_of_turn=result.get("end_of_turn"),
        )


def create_evaluation(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    *,
    owner_id: str,
    adapter_id: str,
    request: EvaluationRequest,
) -> EvaluationPublic:
    """Queue the evaluation of the caller's adapter; commit."""
    adapter = adapter_row(session, owner_id, adapter_id)
    trained = session.get(Job, adapter.job_id)
    assert trained is not None, "an adapter's job outlives it (cascade)"
    backend = request.backend or trained.backend
    admit_job(backend, settings, None, None, 1)
    check_active_jobs(session, owner_id, settings.max_active_jobs_per_user)
    source = TrainingJobSpec.parse(trained.spec)
    file_id = file_id_of(session, owner_id, request.file, "file") if request.file else None
    if file_id:
        dataset, validation = data_ref(session, objects, owner_id, file_id, "file"), None
    else:
        dataset, validation = source.dataset, source.validation
    job_id = new_id("job")
    spec = source.model_copy(
        update={
            "job_id": job_id,
            "task": "evaluate",
            "dataset": dataset,
            "validation": validation,
            "gpus": 1,
            "model_cache_dir": str(settings.resolved_model_cache_dir),
            "evaluation": EvaluationRef(
                adapter_uri=adapter.location,
                held_out=request.file is None,
                generate=request.generate,
                max_new_tokens=request.max_new_tokens,
            ),
            "metadata": {"adapter": adapter.name},
        }
    )
    spec = TrainingJobSpec.parse(spec.model_dump(mode="json"))  # validated as the engine will read it
    job = Job(
        id=job_id,
        owner_id=owner_id,
        kind="evaluation",
        status=JobStatus.VALIDATING_FILES.value,
        model=trained.model,
        training_file=file_id or trained.training_file,
        validation_file=None if file_id else trained.validation_file,
        seed=trained.seed,
        backend=backend,
        hyperparameters=trained.hyperparameters,
        spec=spec.model_dump(mode="json"),
        meta={"adapter_id": adapter.id},
        max_attempts=EVALUATION_ATTEMPTS,
    )
    session.add(job)
    session.flush()
    transition(session, job, JobStatus.QUEUED, f"evaluation of {adapter.name}; waiting for a worker")
    row = Evaluation(
        id=new_id("evaluation"), owner_id=owner_id, adapter_id=adapter.id, job_id=job.id, file_id=file_id
    )
    session.add(row)
    session.commit()
    dispatch_wake.job_queued()
    return EvaluationPublic.of(row, job)


def list_evaluations(session: Session, owner_id: str, adapter_id: str) -> list[EvaluationPublic]:
    """The adapter's evaluations, newest first."""
    adapter_row(session, owner_id, adapter_id)
    rows = session.execute(
        select(Evaluation, Job)
        .join(Job, Job.id == Evaluation.job_id)
        .where(Evaluation.owner_id == owner_id, Evaluation.adapter_id == adapter_id)
        .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
    ).all()
    return [EvaluationPublic.of(row, job) for row, job in rows]
