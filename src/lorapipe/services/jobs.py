"""Job use cases: upload a training file, create a job (validated, idempotent), cancel it.

The web process calls these; they never import the ML stack (the spec and config modules are
pydantic only).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from lorapipe.backends.registry import admit_job
from lorapipe.contract.config import parse_config, preset_values
from lorapipe.contract.job_states import ACTIVE, JobStatus
from lorapipe.contract.spec import DataRef, TrainingJobSpec
from lorapipe.datasets.report import DatasetReport
from lorapipe.db.datasets import Dataset
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import FileObject, IdempotencyKey, Job
from lorapipe.errors import (
    ConflictError,
    DatasetError,
    InvalidTransitionError,
    LorapipeError,
    NotFoundError,
    RateLimitedError,
)
from lorapipe.jobs import store
from lorapipe.jobs.transition import transition
from lorapipe.models.references import check_model_reference
from lorapipe.services.budgets import check_job_estimate
from lorapipe.services.datasets import canonical_key, create_dataset_from_upload
from lorapipe.services.estimates import estimate_dataset_run
from lorapipe.services.limits import upload_slots
from lorapipe.settings import Settings
from lorapipe.storage import ByteSource, ObjectStore

log = logging.getLogger(__name__)

MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
MAX_FILENAME = 255


class Hyperparameters(BaseModel):
    """OpenAI's hyperparameters; ``auto`` (or absent) keeps the preset's value."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: int | Literal["auto"] | None = None
    batch_size: int | Literal["auto"] | None = None
    learning_rate_multiplier: float | Literal["auto"] | None = None

    @field_validator("n_epochs", "batch_size", "learning_rate_multiplier", mode="before")
    @classmethod
    def _auto_or_a_number(cls, value: object, info: ValidationInfo) -> object:
        """Strict, as OpenAI's API: ``"auto"`` or a positive number of the field's own type; never a
        bool, a numeric string or (for the integer fields) a float."""
        kinds: tuple[type, ...] = (int, float) if info.field_name == "learning_rate_multiplier" else (int,)
        if value is None or value == "auto":
            return value
        if (
            type(value) not in kinds or not isinstance(value, int | float) or value <= 0
        ):  # bool is not int here
            kind = "number" if float in kinds else "integer"
            raise ValueError(f"must be 'auto' or a positive {kind}, not {value!r}")
        return value


class CreateJobRequest(BaseModel):
    """``POST /v1/fine_tuning/jobs``: OpenAI's fields plus ours (preset, backend, config, limits)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255)
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters | None = None
    suffix: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = Field(
        default=None, description="Up to 16 pairs: keys up to 64 characters, values up to 512 (as OpenAI)."
    )
    method: dict[str, Any] | None = None
    integrations: list[dict[str, Any]] | None = None
    preset: str = "balanced"
    backend: str = "local"
    config: dict[str, Any] | None = Field(default=None, description="TrainingConfig fields to override.")
    max_attempts: int = Field(default=3, ge=1, le=10)
    timeout_s: int | None = Field(default=None, ge=1, le=2**31 - 1)
    budget_override: bool = Field(
        default=False,
        description="Create the job even when it takes this month's spend to 100 % of the budget.",
    )

    @field_validator("metadata")
    @classmethod
    def _openai_metadata(cls, metadata: dict[str, str] | None) -> dict[str, str] | None:
        if metadata is None:
            return None
        if len(metadata) > MAX_METADATA_PAIRS:
            raise ValueError(f"at most {MAX_METADATA_PAIRS} pairs, not {len(metadata)}")
        for key, value in metadata.items():
            if not 1 <= len(key) <= MAX_METADATA_KEY:
                raise ValueError(f"key {key[:20]!r}...: a key is 1-{MAX_METADATA_KEY} characters")
            if len(value) > MAX_METADATA_VALUE:
                raise ValueError(f"value of {key!r}: a value is at most {MAX_METADATA_VALUE} characters")
        return metadata


def upload_file(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    *,
    owner_id: str,
    filename: str,
    stream: ByteSource,
) -> FileObject:
    """Store and validate a ``fine-tune`` upload; the file is ``processed`` when its dataset is
    ready, ``error`` (with the reason in ``status_details``) otherwise.

    The filename is cleaned first (control characters dropped, at most 255 characters): the file
    record is written after the dataset is ready, and must not then fail on a name its column refuses.
    """
    filename = clean_filename(filename)
    with upload_slots(settings).hold(owner_id):  # one user cannot hold every upload thread
        dataset = create_dataset_from_upload(
            session,
            objects,
            owner_id=owner_id,
            name=filename,
            stream=stream,
            filename=filename,
            max_bytes=settings.max_upload_bytes,
            max_problems=settings.max_report_problems,
        )
    ready = dataset.status == "ready"
    row = FileObject(
        id=new_id("file"),
        owner_id=owner_id,
        filename=filename,
        purpose="fine-tune",
        bytes=dataset.size_bytes or 0,
        status="processed" if ready else "error",
        status_details=None if ready else dataset.error_message,
        dataset_id=dataset.id,
    )
    session.add(row)
    session.commit()
    return row


def clean_filename(filename: str) -> str:
    """``filename`` without control characters or surrounding blanks, at most 255 characters."""
    kept = "".join(c for c in filename if c.isprintable() or c == " ").strip()
    return kept[:MAX_FILENAME].strip() or "upload.jsonl"


def _data_ref(session: Session, objects: ObjectStore, owner_id: str, file_id: str, param: str) -> DataRef:
    try:
        file = store.get_file(session, owner_id, file_id)
    except NotFoundError as exc:
        raise NotFoundError(exc.message, param=param) from None
    dataset = session.get(Dataset, file.dataset_id) if file.dataset_id else None
    if dataset is not None and dataset.deleted_at is not None:
        raise DatasetError(
            f"file {file_id} cannot be used for training: its dataset was deleted", param=param
        )
    if file.status != "processed" or dataset is None or dataset.status != "ready":
        raise DatasetError(
            f"file {file_id} cannot be used for training: {file.status_details or 'validation failed'}",
            param=param,
        )
    return DataRef(uri=objects.url_for(canonical_key(dataset.id)))


def _frozen_estimate(
    session: Session,
    owner_id: str,
    request: CreateJobRequest,
    model: str,
    config: dict[str, Any],
    settings: Settings,
) -> dict[str, Any] | None:
    """The estimate this job is created with (kept on the job to compare with its actual cost later).
    None, with the reason logged, when the model's facts are unknown: that never blocks a job."""
    file = store.get_file(session, owner_id, request.training_file)
    dataset = session.get(Dataset, file.dataset_id) if file.dataset_id else None
    if dataset is None or not dataset.report:
        return None
    try:
        report = estimate_dataset_run(
            DatasetReport.model_validate(dataset.report),
            model=model,
            training=parse_config(config),
            settings=settings,
        )
    except LorapipeError as e:
        log.info("no estimate for %s on %s: %s", model, dataset.id, e)
        return None
    return report.model_dump(mode="json")


def _config(request: CreateJobRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = dict(request.config or {})
    hp = request.hyperparameters or Hyperparameters()
    if isinstance(hp.n_epochs, int):
        overrides["epochs"] = hp.n_epochs
    if isinstance(hp.batch_size, int):
        overrides["batch_size"] = hp.batch_size
    if isinstance(hp.learning_rate_multiplier, int | float):
        base = float(overrides.get("learning_rate", preset_values(request.preset)["learning_rate"]))
        overrides["learning_rate"] = base * hp.learning_rate_multiplier
    if request.seed is not None:
        overrides["seed"] = request.seed
    config = parse_config({"preset": request.preset, **overrides})
    return config.model_dump(mode="json")


def _openai_hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    epochs = config["epochs"]
    return {
        "n_epochs": int(epochs) if float(epochs).is_integer() else epochs,
        "batch_size": config["batch_size"],
        "learning_rate": config["learning_rate"],
        "max_steps": config.get("max_steps"),
    }


def _request_hash(request: CreateJobRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_active_jobs(session: Session, owner_id: str, limit: int) -> None:
    active = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.owner_id == owner_id, Job.status.in_([s.value for s in ACTIVE]))
    )
    if int(active or 0) >= limit:
        raise RateLimitedError(
            f"you have {active} jobs queued or running (at most {limit})",
            hint="wait for some to finish, or cancel one",
            retry_after_s=60,
        )


def create_job(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    *,
    owner_id: str,
    request: CreateJobRequest,
    idempotency_key: str | None = None,
) -> Job:
    """Validate ``request`` and create a ``queued`` job; commit. With ``idempotency_key``, the same
    key and body answer the job created the first time; the same key with another body is a 409."""
    digest = _request_hash(request)
    if idempotency_key:
        earlier = _idempotent_answer(session, owner_id, idempotency_key, digest)
        if earlier is not None:
            return earlier
    admit_job(request.backend, settings, None, request.timeout_s)  # before any work: unknown/unconfigured
    _check_active_jobs(session, owner_id, settings.max_active_jobs_per_user)
    # A catalogued, cached or hub-known model, or a folder the operator allows: never any server path,
    # and an unknown id is refused now rather than failing in the engine after taking a slot.
    model = check_model_reference(request.model, settings, param="model")
    dataset = _data_ref(session, objects, owner_id, request.training_file, "training_file")
    validation = (
        _data_ref(session, objects, owner_id, request.validation_file, "validation_file")
        if request.validation_file
        else None
    )
    config = _config(request)
    estimate = _frozen_estimate(session, owner_id, request, model, config, settings)
    # Refuses (402) at 100 % of the monthly budget unless overridden. Local runs cost no GPU money, so
    # only rented backends price the estimate's upper end.
    priced = estimate if request.backend != "local" else None
    check_job_estimate(session, owner_id, priced, override=request.budget_override)
    timeout_s = admit_job(request.backend, settings, estimate, request.timeout_s)
    job_id = new_id("job")
    labels = {**(request.metadata or {}), **({"suffix": request.suffix} if request.suffix else {})}
    spec = TrainingJobSpec.parse(
        {
            "job_id": job_id,
            "model": model,
            "model_cache_dir": str(settings.resolved_model_cache_dir),
            "dataset": dataset.model_dump(),
            "validation": validation.model_dump() if validation else None,
            "config": config,
            "metadata": labels,
        }
    )
    job = Job(
        id=job_id,
        owner_id=owner_id,
        # The initial status is the row's creation; every later change goes through transition().
        status=JobStatus.VALIDATING_FILES.value,
        model=request.model,
        training_file=request.training_file,
        validation_file=request.validation_file,
        suffix=request.suffix,
        seed=int(config["seed"]),
        backend=request.backend,
        hyperparameters=_openai_hyperparameters(config),
        spec=spec.model_dump(mode="json"),
        estimate=estimate,
        meta=request.metadata,
        max_attempts=request.max_attempts,
        timeout_s=timeout_s,
    )
    session.add(job)
    session.flush()
    transition(session, job, JobStatus.QUEUED, "training file validated; waiting for a worker")
    if idempotency_key:
        session.add(
            IdempotencyKey(
                id=new_id("idempotency"),
                owner_id=owner_id,
                key=idempotency_key,
                request_hash=digest,
                resource_type="fine_tuning.job",
                resource_id=job.id,
            )
        )
    try:
        session.commit()
    except SAIntegrityError:
        # A concurrent request with the same Idempotency-Key committed first: answer its job.
        session.rollback()
        earlier = _idempotent_answer(session, owner_id, idempotency_key, digest) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    return job


def _idempotent_answer(session: Session, owner_id: str, key: str, digest: str) -> Job | None:
    seen = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.owner_id == owner_id, IdempotencyKey.key == key)
    )
    if seen is None:
        return None
    if seen.request_hash != digest:
        raise ConflictError(
            "this Idempotency-Key was used with a different request body",
            param="Idempotency-Key",
            hint="use a new key for a new request",
        )
    return store.get_job(session, owner_id, seen.resource_id)


def cancel_job(session: Session, *, owner_id: str, job_id: str) -> Job:
    """Cancel: a job that never reached a backend ends ``cancelled`` now; a started one goes to
    ``cancelling`` and the reconciler stops its process. Cancelling a finished job is a 409."""
    job = store.get_job(session, owner_id, job_id, for_update=True)
    status = JobStatus(job.status)
    if status is JobStatus.CANCELLING:
        return job
    if status.is_terminal:
        raise InvalidTransitionError(
            f"job {job_id} already {status.value}; it cannot be cancelled", param="job_id"
        )
    target = (
        JobStatus.CANCELLED
        if status in (JobStatus.VALIDATING_FILES, JobStatus.QUEUED)
        else JobStatus.CANCELLING
    )
    transition(session, job, target, "cancel requested by the user")
    session.commit()
    return job
