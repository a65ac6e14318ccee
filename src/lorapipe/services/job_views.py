"""Jobs as the API shows them: OpenAI's ``fine_tuning.job`` (plus our fields), and the native view
that adds the latest progress figures.

Jobs are created and cancelled by :mod:`lorapipe.services.jobs`; this module reads and shapes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from lorapipe.contract.job_states import JobStatus
from lorapipe.db.costs import CostRecord
from lorapipe.db.jobs import FileObject, Job, MetricPoint
from lorapipe.errors import NotFoundError
from lorapipe.jobs import store
from lorapipe.jobs.schemas import JobError
from lorapipe.services import jobs as job_service
from lorapipe.services.public import CursorPage, Page, rows_with_total, ts
from lorapipe.services.row_read import RowRead

Figure = int | float
"""A metric as the engine reported it (an integer stays an integer)."""
PROGRESS_WINDOW = 50
"""Latest metric points read to assemble the progress figures."""


def _absent(value: object) -> bool:
    return value is None


class JobMethod(BaseModel):
    type: Literal["supervised"] = "supervised"


class JobPublic(BaseModel):
    """OpenAI's fine-tuning job object; ``backend``, ``estimate``, ``preset``, ``started_at`` and
    ``status_reason`` are our additions."""

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    finished_at: int | None
    model: str
    fine_tuned_model: str | None
    organization_id: str = Field(description="The owner's user id.")
    status: JobStatus
    status_reason: str | None = Field(description="Why the job is in its status.")
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    result_files: list[str] = Field(default_factory=list)
    trained_tokens: int | None
    seed: int
    suffix: str | None
    user_provided_suffix: str | None
    metadata: dict[str, str] | None
    error: JobError | None = Field(description="Why the job failed; ``kind`` decides retries.")
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] = Field(default_factory=list)
    method: JobMethod = Field(default_factory=JobMethod)
    backend: str = Field(description="Where the job runs.")
    kind: Literal["fine_tune", "evaluation"] = Field(
        default="fine_tune", description="fine_tune trains an adapter; evaluation measures one (lorapipe's)."
    )
    estimate: dict[str, Any] | None = Field(
        default=None,
        exclude_if=_absent,
        description="The estimate frozen onto the job at creation (tens of KB): in the create answer, and "
        "in a read only when asked (`include=estimate`; also `GET /v1/fine_tuning/jobs/{id}/estimate`).",
    )
    preset: str | None
    started_at: int | None

    @classmethod
    def from_row(cls, row: Job | Row[Any], *, estimate: bool = False) -> JobPublic:
        """The job's public object; its frozen ``estimate`` only when asked for (it is most of the
        object's size). ``row``: the ORM's job, or a row of :data:`lorapipe.jobs.store.OWNED_JOB_ROWS`
        (the same names)."""
        return cls(
            id=row.id,
            created_at=ts(row.created_at),
            finished_at=ts(row.finished_at),
            model=row.model,
            fine_tuned_model=row.fine_tuned_model,
            organization_id=row.owner_id,
            status=JobStatus(row.status),
            kind="evaluation" if row.kind == "evaluation" else "fine_tune",
            status_reason=row.status_reason,
            training_file=row.training_file,
            validation_file=row.validation_file,
            hyperparameters=row.hyperparameters,
            trained_tokens=row.trained_tokens,
            seed=row.seed,
            suffix=row.suffix,
            user_provided_suffix=row.suffix,
            metadata=row.meta,
            error=JobError.model_validate(row.error) if row.error else None,
            backend=row.backend,
            estimate=row.estimate if estimate else None,
            preset=(row.spec.get("config") or {}).get("preset"),
            started_at=ts(row.started_at),
        )


class JobProgress(BaseModel):
    """The latest figures of a run (null until the engine reports them)."""

    step: int | None = None
    total_steps: int | None = None
    epoch: Figure | None = None
    loss: Figure | None = Field(default=None, description="Training loss.")
    eval_loss: Figure | None = Field(default=None, description="Validation loss.")
    eta_s: Figure | None = Field(default=None, description="Seconds left, estimated.")
    elapsed_s: Figure | None = Field(default=None, description="Seconds of training so far.")
    tokens_per_s: Figure | None = None


class BackendState(BaseModel):
    """Where the job's current attempt stands on its backend (what RunPod itself says, for a RunPod job)."""

    attempt: int = Field(description="1-based number of the current attempt.")
    provider_status: str | None = Field(
        default=None, description="The provider's own status, e.g. RunPod's IN_QUEUE or IN_PROGRESS."
    )
    queued: bool = Field(default=False, description="Waiting for a rented worker to take it.")
    worker: str | None = Field(default=None, description="The provider's worker id, once one took it.")


class JobCost(BaseModel):
    """What the job cost so far: the sum of its booked cost lines (compute and storage)."""

    usd: float
    lines: int


class NativeJobPublic(JobPublic):
    """A job with its latest progress, where its attempt is, and its cost (the native ``/api/jobs``
    object)."""

    progress: JobProgress
    backend_state: BackendState | None = None
    cost: JobCost | None = None


def job_progress(session: Session, job_id: str) -> JobProgress:
    """The newest value of each progress figure over the job's latest metric points."""
    recent = session.scalars(
        select(MetricPoint)
        .where(MetricPoint.job_id == job_id)
        .order_by(MetricPoint.id.desc())
        .limit(PROGRESS_WINDOW)
    ).all()
    keys = JobProgress.model_fields
    figures: dict[str, Any] = {}
    # Oldest to newest, so the newest value of each figure wins.
    for point in reversed(recent):
        values = {"step": point.step, **point.values}
        figures.update({k: values[k] for k in keys if values.get(k) is not None})
    return JobProgress.model_validate(figures)


def backend_state(session: Session, job_id: str) -> BackendState | None:
    attempt = store.current_attempt(session, job_id)
    if attempt is None:
        return None
    handle = attempt.handle or {}
    billing = handle.get("billing") or {}
    return BackendState(
        attempt=attempt.number,
        provider_status=handle.get("runpod_status"),
        queued=bool(handle.get("queued")),
        worker=billing.get("worker_id"),
    )


def job_cost(session: Session, job_id: str) -> JobCost | None:
    usd, lines = session.execute(
        select(func.sum(CostRecord.usd), func.count()).where(CostRecord.job_id == job_id)
    ).one()
    return JobCost(usd=round(float(usd), 6), lines=int(lines)) if lines else None


def with_progress(session: Session, job: JobPublic) -> NativeJobPublic:
    return NativeJobPublic.model_validate(
        {
            **dict(job),
            "progress": job_progress(session, job.id),
            "backend_state": backend_state(session, job.id),
            "cost": job_cost(session, job.id),
        }
    )


def _native(session: Session, row: Job, estimate: bool = False) -> NativeJobPublic:
    return with_progress(session, JobPublic.from_row(row, estimate=estimate))


def job_read(job_id: str, *, estimate: bool = False) -> RowRead:
    """:func:`get_job` as one statement (a client polling its job: the API's hottest read)."""
    return RowRead(
        store.OWNED_JOB_ROWS[estimate],
        {"job_id": job_id},
        lambda row: JobPublic.from_row(row, estimate=estimate),
    )


def get_job(session: Session, owner_id: str, job_id: str, *, estimate: bool = False) -> JobPublic:
    row = store.get_job(session, owner_id, job_id, estimate=estimate)
    return JobPublic.from_row(row, estimate=estimate)


def get_estimate(session: Session, owner_id: str, job_id: str) -> dict[str, Any]:
    """The estimate frozen onto the job at creation; not found when the job has none."""
    row = store.get_job(session, owner_id, job_id)
    if row.estimate is None:
        raise NotFoundError(
            f"job {job_id!r} has no frozen estimate (none could be made when it was created)",
            param="fine_tuning_job_id",
        )
    return row.estimate


def list_jobs(
    session: Session, owner_id: str, *, after: str | None, limit: int, estimate: bool = False
) -> CursorPage[JobPublic]:
    """The owner's jobs newest first, OpenAI's cursor list (``after``: a job id)."""
    page = store.list_jobs(session, owner_id, after, limit, estimate=estimate)
    data = [JobPublic.from_row(j, estimate=estimate) for j in page.items]
    return CursorPage[JobPublic].of(data, has_more=page.has_more)


def cancel_job(session: Session, owner_id: str, job_id: str, reason: str | None = None) -> JobPublic:
    """Cancel (see :func:`lorapipe.services.jobs.cancel_job`); commits."""
    return JobPublic.from_row(
        job_service.cancel_job(session, owner_id=owner_id, job_id=job_id, reason=reason)
    )


def get_job_with_progress(
    session: Session, owner_id: str, job_id: str, *, estimate: bool = False
) -> NativeJobPublic:
    return _native(session, store.get_job(session, owner_id, job_id, estimate=estimate), estimate)


def list_jobs_with_progress(
    session: Session,
    owner_id: str,
    *,
    status: JobStatus | None = None,
    limit: int = 20,
    offset: int = 0,
    estimate: bool = False,
) -> Page[NativeJobPublic]:
    """The owner's jobs newest first (optionally of one status), with the total over all pages."""
    query = select(Job).where(Job.owner_id == owner_id)
    if not estimate:
        query = store.without_estimate(query)
    if status is not None:
        query = query.where(Job.status == status.value)
    query = query.order_by(Job.created_at.desc(), Job.id.desc())
    rows, total = rows_with_total(session, query, limit=limit, offset=offset)
    return Page[NativeJobPublic].of(
        [_native(session, row, estimate) for row in rows], total=total, limit=limit, offset=offset
    )


def training_dataset_id(session: Session, owner_id: str, job: JobPublic) -> str | None:
    """The dataset the job's training file was validated into (None when it has none); a deleted file
    still answers, so an ended job's page keeps its lineage."""
    file = session.get(FileObject, job.training_file)
    return file.dataset_id if file is not None and file.owner_id == owner_id else None
