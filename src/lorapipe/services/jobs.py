"""Job use cases: create a job (validated, idempotent), cancel it. (Uploads: :mod:`.file_uploads`;
the request body: :mod:`.job_requests`.)

The web process calls these; they never import the ML stack (the spec and config modules are
pydantic only).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

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
from lorapipe.db.jobs import IdempotencyKey, Job
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
from lorapipe.services import dispatch_wake
from lorapipe.services.budgets import check_job_estimate
from lorapipe.services.datasets import canonical_key, get_dataset
from lorapipe.services.estimates import estimate_dataset_run
from lorapipe.services.file_uploads import file_of_dataset
from lorapipe.services.job_requests import CreateJobRequest, Hyperparameters
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

log = logging.getLogger(__name__)
MAX_CANCEL_REASON = 500
"""Characters of a cancel reason kept."""
DATASET_PREFIX = "ds_"
"""How a dataset id starts (:func:`lorapipe.db.datasets.new_dataset_id`); file ids start ``file-``."""


def data_ref(session: Session, objects: ObjectStore, owner_id: str, file_id: str, param: str) -> DataRef:
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


def file_id_of(session: Session, owner_id: str, ident: str, param: str) -> str:
    """A file id for ``ident``: a dataset id (``ds_…``, as ``/api/datasets`` and the dashboard name an
    upload) answers its dataset's file record, made on first use; a file id is kept as it is."""
    if not ident.startswith(DATASET_PREFIX):
        return ident
    try:
        dataset = get_dataset(session, owner_id, ident)
    except NotFoundError:
        raise NotFoundError(f"no file or dataset with id {ident!r}", param=param) from None
    return file_of_dataset(session, dataset).id


def _with_file_ids(session: Session, owner_id: str, request: CreateJobRequest) -> CreateJobRequest:
    """``request`` with dataset ids replaced by their file ids: the job records a file, whichever id named it."""
    validation = request.validation_file
    return request.model_copy(
        update={
            "training_file": file_id_of(session, owner_id, request.training_file, "training_file"),
            "validation_file": file_id_of(session, owner_id, validation, "validation_file")
            if validation
            else None,
        }
    )


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
            gpu_count=request.gpus or 1,
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


def check_active_jobs(session: Session, owner_id: str, limit: int) -> None:
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
    # Before any work: an unknown or unconfigured backend, or more GPUs than it gives one job.
    admit_job(request.backend, settings, None, request.timeout_s, request.gpus or 1)
    check_active_jobs(session, owner_id, settings.max_active_jobs_per_user)
    # A catalogued, cached or hub-known model, or a folder the operator allows: never any server path,
    # and an unknown id is refused now rather than failing in the engine after taking a slot.
    model = check_model_reference(request.model, settings, param="model")
    request = _with_file_ids(session, owner_id, request)
    dataset = data_ref(session, objects, owner_id, request.training_file, "training_file")
    validation = (
        data_ref(session, objects, owner_id, request.validation_file, "validation_file")
        if request.validation_file
        else None
    )
    config = _config(request)
    estimate = _frozen_estimate(session, owner_id, request, model, config, settings)
    # Refuses (402) at 100 % of the monthly budget unless overridden. Local runs cost no GPU money, so
    # only rented backends price the estimate's upper end.
    priced = estimate if request.backend != "local" else None
    check_job_estimate(session, owner_id, priced, override=request.budget_override)
    timeout_s = admit_job(request.backend, settings, estimate, request.timeout_s, request.gpus or 1)
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
            "gpus": request.gpus or 1,
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
    dispatch_wake.job_queued()
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


def cancel_job(session: Session, *, owner_id: str, job_id: str, reason: str | None = None) -> Job:
    """Cancel: a job that never reached a backend ends ``cancelled`` now; a started one goes to
    ``cancelling`` and the reconciler stops its process. Cancelling a finished job is a 409.
    ``reason`` (the user's words) is kept in the job's status reason and its event log."""
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
    why = " ".join((reason or "").split())[:MAX_CANCEL_REASON]
    transition(
        session,
        job,
        target,
        f"cancel requested by the user: {why}" if why else "cancel requested by the user",
    )
    session.commit()
    return job
