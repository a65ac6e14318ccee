"""How an ended attempt ends its job. The one rule: a job is ``succeeded`` only when the engine exited
0 *and* every artifact in its manifest verified; every other ending is ``failed`` (with the
engine's own error when it sent one), ``cancelled``, or a bounded retry from the last checkpoint."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.backends.base import PollResult
from lorapipe.contract.events import ExitCode
from lorapipe.contract.job_states import JobStatus
from lorapipe.db.base import utcnow
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Adapter, Attempt, Evaluation, Job
from lorapipe.errors import IntegrityError
from lorapipe.jobs import store
from lorapipe.jobs.artifacts import EVALUATION_REPORT, verify_artifacts
from lorapipe.jobs.layout import adapter_prefix
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.transition import transition
from lorapipe.storage import ObjectStore


def fine_tuned_model_name(job: Job) -> str:
    """OpenAI-style model name: ``ft:<base>:<suffix>:<job id>`` (suffix omitted when not given)."""
    base = job.model.rsplit("/", 1)[-1]
    return f"ft:{base}:{job.suffix}:{job.id}" if job.suffix else f"ft:{base}:{job.id}"


def _error_for(attempt: Attempt, result: PollResult) -> JobError:
    """The engine's own error event when it sent one; otherwise what the exit says."""
    stop = attempt.handle.get("stop_reason")
    if stop == "timeout":
        return JobError(
            code="timeout", message="the attempt ran past the job's timeout and was stopped", kind="timeout"
        )
    if stop == "stalled":
        return JobError(
            code="stalled", message="the run reported nothing for too long and was stopped", kind="system"
        )
    reported = attempt.handle.get("engine_error")
    if isinstance(reported, dict) and reported.get("code") and reported.get("message"):
        kind = (
            reported.get("kind")
            if reported.get("kind") in ("user", "system", "capacity", "timeout")
            else "system"
        )
        hint = f" ({reported['hint']})" if reported.get("hint") else ""
        return JobError(
            code=reported["code"], message=reported["message"] + hint, param=reported.get("param"), kind=kind
        )
    if result.error and result.error.get("code") and result.error.get("message"):
        kind = result.error.get("kind")
        return JobError(
            code=str(result.error["code"]),
            message=str(result.error["message"]),
            kind=kind if kind in ("user", "system", "capacity", "timeout") else "system",
        )
    last_line = result.stderr_tail.splitlines()[-1] if result.stderr_tail else ""
    if result.state == "lost":
        return JobError(
            code="attempt_lost",
            message="the run's supervisor stopped (service restart or crash) before the run ended",
            kind="system",
        )
    code = result.exit_code
    if code is not None and code < 0:
        return JobError(
            code="engine_killed", message=f"the engine was killed by signal {-code}", kind="system"
        )
    kind = "user" if code == ExitCode.USER_ERROR else "system"
    detail = f": {last_line}" if last_line else ""
    return JobError(code="engine_failed", message=f"the engine exited with code {code}{detail}", kind=kind)


def finish_attempt(
    s: Session, job: Job, attempt: Attempt, result: PollResult, objects: ObjectStore, backoff_s: float
) -> None:
    """Close ``attempt`` and move ``job`` to where the attempt's ending leads. The caller commits."""
    now = utcnow()
    attempt.status = "exited" if result.state == "exited" else "lost"
    attempt.exit_code, attempt.ended_at = result.exit_code, now
    if job.status not in (JobStatus.PROVISIONING, JobStatus.RUNNING, JobStatus.CANCELLING):
        attempt.exit_reason = f"job already {job.status}"
        return
    if result.state == "exited" and result.exit_code == ExitCode.SUCCESS:
        _succeed_or_fail(s, job, attempt, objects)
        return
    cancelled = result.exit_code == ExitCode.CANCELLED or attempt.term_sent_at is not None
    if job.status == JobStatus.CANCELLING and cancelled:
        attempt.exit_reason = "cancelled"
        transition(s, job, JobStatus.CANCELLED, "cancelled by request; the run stopped")
        return
    error = _error_for(attempt, result)
    attempt.exit_reason = f"{error.code}: {error.message}"
    used = store.attempts_run(s, job.id)
    if error.retryable and used < job.max_attempts and job.status != JobStatus.CANCELLING:
        resume = "from the last checkpoint" if store.latest_checkpoint(s, job.id) else "from the start"
        transition(
            s,
            job,
            JobStatus.QUEUED,
            f"attempt {attempt.number} ended ({error.code}); retry {used + 1}/{job.max_attempts} {resume}",
            data={"error": error.as_dict()},
        )
        job.not_before = now + dt.timedelta(seconds=backoff_s * 4 ** (used - 1))
        return
    transition(s, job, JobStatus.FAILED, f"attempt {attempt.number} failed: {error.message}", error=error)


def _succeed_or_fail(s: Session, job: Job, attempt: Attempt, objects: ObjectStore) -> None:
    prefix = adapter_prefix(job.id, attempt.id)
    try:
        artifacts = verify_artifacts(objects, prefix, evaluation=job.kind == "evaluation")
    except IntegrityError as exc:
        attempt.exit_reason = f"{exc.code}: {exc.message}"
        transition(
            s,
            job,
            JobStatus.FAILED,
            f"the engine exited 0 but {exc.message}",
            error=JobError.from_exception(exc),
        )
        return
    attempt.exit_reason = "succeeded"
    if job.kind == "evaluation":  # measured an adapter: keep its result; no new adapter
        _record_evaluation(s, job, objects, prefix)
        transition(s, job, JobStatus.SUCCEEDED, f"evaluated; {len(artifacts.files)} artifact(s) verified")
        return
    name = fine_tuned_model_name(job)
    engine_result = attempt.handle.get("engine_result") or {}
    # The engine's result event carries its metrics summary under "metrics".
    metrics = engine_result.get("metrics")
    trained = metrics.get("trained_tokens") if isinstance(metrics, dict) else None
    s.add(
        Adapter(
            id=new_id("adapter"),
            owner_id=job.owner_id,
            job_id=job.id,
            name=name,
            base_model=job.model,
            location=objects.url_for(prefix),
            manifest=artifacts.manifest,
            size_bytes=artifacts.total_bytes,
        )
    )
    job.fine_tuned_model = name
    job.trained_tokens = trained if isinstance(trained, int) else None
    transition(
        s, job, JobStatus.SUCCEEDED, f"{len(artifacts.files)} artifact(s) verified against the manifest"
    )


def _record_evaluation(s: Session, job: Job, objects: ObjectStore, prefix: str) -> None:
    """Keep the verified ``evaluation.json`` of an evaluation job on its evaluation row."""
    row = s.scalar(select(Evaluation).where(Evaluation.job_id == job.id))
    if row is not None:  # None: its adapter was deleted while it ran (cascade), nothing to keep
        row.result = json.loads(objects.read_bytes(f"{prefix}/{EVALUATION_REPORT}"))
