"""What the job monitor shows beyond the job object: the preset as a person reads it, the run's length,
the cost so far against the estimate frozen at creation, and, for a failed job, its error once with
advice on what to do next."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.contract.job_states import JobStatus
from lorapipe.jobs import store
from lorapipe.services.job_views import NativeJobPublic
from lorapipe.services.launch_options import preset_label

WARN_SHARE = 0.8
"""Share of the estimate's upper end at which the cost so far is flagged."""
TIERS = {
    "runpod-serverless": ("serverless_flex", "serverless_active"),
    "runpod-pod": ("pod_community", "pod_secure"),
}
"""The estimate's tiers a backend runs on."""
ADVICE = {
    "user": "Change the setting or the data the message names, then retry with changes.",
    "capacity": "No GPU or worker was free: retry later, or choose another GPU type or backend.",
    "timeout": "The run took longer than its limit: lower max_steps or epochs, or raise timeout_s, then retry.",
    "system": "Not caused by your settings: retry the job; if it fails again, give the operator the job id.",
}
"""What to do about a failure, by its kind, when the engine gave no advice of its own."""


STAGES: tuple[tuple[str, str], ...] = (
    ("queued", "Queued"),
    ("starting", "Starting"),
    ("tokenizing", "Preparing data"),
    ("training", "Training"),
    ("evaluating", "Evaluating"),
    ("saving", "Saving"),
    ("done", "Done"),
)
"""The monitor's stepper: (step, label). The engine's stages map onto it in static/job.js (downloading and
loading_model are "starting", uploading is "saving")."""
_STEP_OF_STATUS = {
    JobStatus.VALIDATING_FILES: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.PROVISIONING: "starting",
    JobStatus.RUNNING: "starting",
    JobStatus.SUCCEEDED: "done",
}


class CostCheck(BaseModel):
    """The cost booked so far against the estimate's range for the job's backend."""

    spent_usd: float
    low_usd: float | None = None
    high_usd: float | None = None
    share: float | None = Field(default=None, description="Spent ÷ the estimate's upper end.")
    level: Literal["ok", "warn", "over", "unbilled", "unknown"]
    note: str


class Failure(BaseModel):
    code: str
    kind: str
    message: str
    advice: str


class MonitorView(BaseModel):
    step: str = Field(description="The stepper's step the status alone implies; the event stream refines it.")
    preset: str
    length: str
    cost: CostCheck
    failure: Failure | None = None


def _estimated_usd(estimate: dict[str, Any] | None, backend: str) -> tuple[float, float] | None:
    """The (low, high) USD of the option the job's backend would use: the recommendation when it is on
    one of the backend's tiers, else the cheapest usable option there."""
    if not estimate or backend not in TIERS:
        return None
    tiers = TIERS[backend]
    options = [o for o in estimate.get("options") or [] if o.get("tier") in tiers and o.get("usd")]
    rec = estimate.get("recommendation") or {}
    picked = next(
        (o for o in options if o.get("gpu") == rec.get("gpu") and o.get("tier") == rec.get("tier")), None
    )
    if picked is None:
        usable = sorted((o for o in options if o.get("usable")), key=lambda o: o["usd"]["mid"])
        picked = usable[0] if usable else None
    return (float(picked["usd"]["low"]), float(picked["usd"]["high"])) if picked else None


def cost_check(job: NativeJobPublic) -> CostCheck:
    spent = job.cost.usd if job.cost else 0.0
    if job.backend == "local":
        return CostCheck(spent_usd=spent, level="unbilled", note="local hardware: no GPU rent is billed")
    estimated = _estimated_usd(job.estimate, job.backend)
    if estimated is None or estimated[1] <= 0:
        return CostCheck(spent_usd=spent, level="unknown", note="no estimate was frozen for this backend")
    low, high = estimated
    share = spent / high
    level: Literal["ok", "warn", "over"] = "over" if share >= 1 else "warn" if share >= WARN_SHARE else "ok"
    note = {
        "ok": "within the estimate",
        "warn": f"{share:.0%} of the estimate's upper end",
        "over": f"over the estimate ({share:.0%} of its upper end)",
    }[level]
    return CostCheck(
        spent_usd=spent, low_usd=low, high_usd=high, share=round(share, 4), level=level, note=note
    )


def _failure(session: Session, job: NativeJobPublic) -> Failure | None:
    if job.status is not JobStatus.FAILED or job.error is None:
        return None
    attempt = store.current_attempt(session, job.id)
    reported = (attempt.handle or {}).get("engine_error") if attempt is not None else None
    hint = reported.get("hint") if isinstance(reported, dict) else None
    message = job.error.message
    if hint and message.endswith(f" ({hint})"):
        message = message[: -len(hint) - 3]  # the engine's advice is shown as advice, not twice
    return Failure(
        code=job.error.code,
        kind=job.error.kind,
        message=message,
        advice=str(hint) if hint else ADVICE.get(job.error.kind, ADVICE["system"]),
    )


def _length(job: NativeJobPublic) -> str:
    hp = job.hyperparameters
    epochs, max_steps = hp.get("n_epochs"), hp.get("max_steps")
    if max_steps:
        return f"{max_steps} steps (max_steps; the epochs setting, {epochs}, does not apply)"
    return f"{epochs} epoch{'s' if epochs != 1 else ''}"


def monitor_view(session: Session, owner_id: str, job: NativeJobPublic) -> MonitorView:
    """The monitor's figures for the owner's ``job``."""
    row = store.get_job(session, owner_id, job.id)
    config = dict((row.spec or {}).get("config") or {})
    return MonitorView(
        step=_STEP_OF_STATUS.get(job.status, "starting"),
        preset=preset_label(config) if config else (job.preset or "–"),
        length=_length(job),
        cost=cost_check(job),
        failure=_failure(session, job),
    )
