"""Cost accounting after the fact: one compute line per ended attempt (plus storage where the backend
reports it), priced with :mod:`lorapipe.estimate.cost` from the GPU that actually ran, with the
job's estimate kept next to the actual; month-to-date spend against the user's budget.

What a backend reports lives in ``attempt.handle["billing"]`` (all optional):
``gpu``, ``gpu_count``, ``tier`` (``serverless_flex|serverless_active|pod_secure|pod_community``),
``execution_ms``, ``delay_ms``, ``cold_start_ms`` (RunPod serverless ``/status``), ``runtime_s``
(pod runtime, or measured local seconds), ``device`` (local), ``storage_gb``, ``storage_seconds``,
``storage_usd_per_gb_month``. Without it the attempt's wall time is used.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from lorapipe.contract.job_states import JobStatus
from lorapipe.db.base import utcnow
from lorapipe.db.costs import CostRecord
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Attempt, Job
from lorapipe.estimate import cost as pricing
from lorapipe.estimate.catalogue import GpuCatalogue, load_catalogue
from lorapipe.services.budgets import estimated_usd, notify_budget_thresholds
from lorapipe.services.notifications import SCAN_HORIZON, insert_once

NETWORK_VOLUME_USD_PER_GB_MONTH = 0.07  # RunPod network volume, docs.runpod.io/pods/pricing (2026-11)


def _wall_seconds(attempt: Attempt) -> float:
    end = attempt.ended_at or utcnow()
    return max(0.0, (end - attempt.started_at).total_seconds())


def _unpriced(backend: str, seconds: float) -> pricing.PricedCost:
    """A remote run whose backend did not say which GPU ran: booked at $0 and marked unpriced, so
    the gap shows in the cost list instead of being passed off as free local compute."""
    return pricing.PricedCost(
        kind="compute",
        usd=0.0,
        usd_low=0.0,
        usd_high=0.0,
        billed_seconds=math.ceil(seconds),
        gpu=None,
        gpu_count=0,
        backend=backend,
        price_usd=0.0,
        price_unit="n/a",
        price_source="unpriced: the backend reported no GPU type",
        price_date=None,
        detail=f"{seconds:.0f} s wall time on {backend}; GPU unknown, cost not known",
    )


def _pod_billed(bill: dict[str, Any], runtime_s: float) -> pricing.PricedCost:
    """A pod priced at the ``costPerHr`` RunPod reported for it (the whole pod, all its GPUs), per second."""
    seconds = math.ceil(runtime_s)
    rate = float(bill["usd_per_hr"])
    usd = round(seconds * rate / 3600.0, 6)
    return pricing.PricedCost(
        kind="compute",
        usd=usd,
        usd_low=usd,
        usd_high=usd,
        billed_seconds=seconds,
        gpu=bill.get("gpu"),
        gpu_count=int(bill.get("gpu_count", 1)),
        backend="runpod-pod",
        price_usd=rate,
        price_unit="USD per pod-hour",
        price_source=f"RunPod costPerHr of pod {bill.get('pod_id', '?')}",
        price_date=None,
        detail=f"pod runtime {runtime_s:.0f} s ({str(bill.get('tier', 'pod_secure')).removeprefix('pod_')} cloud)",
    )


def price_attempt(attempt: Attempt, job: Job, catalogue: GpuCatalogue) -> list[pricing.PricedCost]:
    """The cost lines of one ended attempt (compute first, then storage when reported)."""
    bill: dict[str, Any] = dict(attempt.handle.get("billing") or {})
    wall = _wall_seconds(attempt)
    gpu = bill.get("gpu")
    count = int(bill.get("gpu_count", 1))
    lines: list[pricing.PricedCost] = []
    if attempt.backend == "runpod-serverless" and gpu and "execution_ms" in bill:
        lines.append(
            pricing.serverless_actual_cost(
                catalogue,
                gpu,
                execution_ms=float(bill["execution_ms"]),
                delay_ms=float(bill.get("delay_ms", 0.0)),
                cold_start_ms=bill.get("cold_start_ms"),
                gpu_count=count,
                tier=bill.get("tier", "serverless_flex"),
            )
        )
    elif attempt.backend == "runpod-pod" and isinstance(bill.get("usd_per_hr"), int | float):
        lines.append(_pod_billed(bill, float(bill.get("runtime_s", wall))))
    elif attempt.backend.startswith("runpod") and gpu:
        # A pod (or a serverless run without /status timings): billed per second of runtime.
        lines.append(
            pricing.pod_actual_cost(
                catalogue,
                gpu,
                runtime_s=float(bill.get("runtime_s", wall)),
                gpu_count=count,
                tier=bill.get("tier", "pod_secure"),
            )
        )
    elif attempt.backend.startswith("runpod"):
        lines.append(_unpriced(attempt.backend, float(bill.get("runtime_s", wall))))
    else:
        device = bill.get("device") or job.spec.get("config", {}).get("device") or "cpu"
        lines.append(pricing.local_actual_cost(float(bill.get("runtime_s", wall)), str(device)))
    if bill.get("storage_gb"):
        rate = float(bill.get("storage_usd_per_gb_month", NETWORK_VOLUME_USD_PER_GB_MONTH))
        lines.append(
            pricing.storage_cost(
                float(bill["storage_gb"]),
                float(bill.get("storage_seconds", wall)),
                rate,
                what="volume",
                source="docs.runpod.io/pods/pricing (network volume)",
            )
        )
    return lines


def _job_compute_usd(session: Session, job_id: str) -> float:
    total = session.scalar(
        select(func.sum(CostRecord.usd)).where(CostRecord.job_id == job_id, CostRecord.kind == "compute")
    )
    return float(total or 0.0)


def record_attempt_costs(session: Session, attempt: Attempt, job: Job, catalogue: GpuCatalogue) -> int:
    """Book the attempt's cost lines once (a second call books nothing); the caller commits.

    When the job has ended, its compute line also keeps the estimate vs the job's actual total."""
    lines = price_attempt(attempt, job, catalogue)
    booked = 0
    for line in lines:
        details: dict[str, Any] = line.to_dict()
        details["job_status"] = job.status
        if line.kind == "compute" and JobStatus(job.status).is_terminal:
            bill = attempt.handle.get("billing") or {}
            est = estimated_usd(job.estimate, line.gpu, bill.get("tier"))
            if est is not None:
                actual = _job_compute_usd(session, job.id) + line.usd
                details["estimate"] = pricing.estimate_error(est, actual)
        values = {
            "id": new_id("cost"),
            "owner_id": job.owner_id,
            "job_id": job.id,
            "attempt_id": attempt.id,
            "kind": line.kind,
            "gpu_type": line.gpu,
            "seconds": float(line.billed_seconds),
            "usd": Decimal(str(line.usd)),
            "price_source": line.price_source,
            "details": details,
            "created_at": attempt.ended_at or utcnow(),
        }
        booked += insert_once(session, CostRecord.__table__, values, ["attempt_id", "kind"])
    return booked


def record_pending_costs(
    session: Session,
    *,
    catalogue: GpuCatalogue | None = None,
    now: dt.datetime | None = None,
    limit: int = 200,
) -> int:
    """Book every recently ended attempt that has no compute line yet, then check the owners'
    budget thresholds (80 %, 100 %); returns how many lines were booked. The caller commits."""
    catalogue = catalogue or load_catalogue()
    since = (now or utcnow()) - SCAN_HORIZON
    booked_line = exists().where(CostRecord.attempt_id == Attempt.id, CostRecord.kind == "compute")
    rows = session.execute(
        select(Attempt, Job)
        .join(Job, Job.id == Attempt.job_id)
        .where(Attempt.ended_at.is_not(None), Attempt.ended_at >= since, ~booked_line)
        .order_by(Attempt.ended_at)
        .limit(limit)
    ).all()
    booked = 0
    owners: set[str] = set()
    for attempt, job in rows:
        booked += record_attempt_costs(session, attempt, job, catalogue)
        owners.add(job.owner_id)
    for owner in sorted(owners):
        notify_budget_thresholds(session, owner, now=now)
    return booked
