"""Money: the estimated cost of a job on one GPU/backend, and the actual cost after it ran.

Estimated: billed seconds (a range) × price per GPU-second × GPUs. RunPod serverless bills from
worker start to stop, rounded up to the second, including the cold start and the idle timeout;
pods bill per second while running (``docs.runpod.io`` serverless/pricing, pods/pricing).

Actual: from what RunPod reports — ``delayTime`` and ``executionTime`` (ms) of a serverless request,
or a pod's runtime — × the price of the GPU that actually ran. ``delayTime`` mixes queue wait (not
billed) with cold start (billed), so without a cold start measured by the worker the actual cost is
a range whose upper end assumes the whole delay was cold start.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lorapipe.errors import ConfigError
from lorapipe.estimate.catalogue import GpuCatalogue, Price, PriceKind
from lorapipe.estimate.priors import Triple

SERVERLESS_IDLE_TIMEOUT_S = 5.0  # RunPod's default idle timeout: billed after every job
SECONDS_PER_MONTH = 30 * 24 * 3600.0

CostKind = Literal["compute", "storage"]


def estimated_cost(seconds: Triple, usd_per_gpu_second: float, gpus: int) -> Triple:
    """Cost range of ``seconds`` (low, mid, high) on ``gpus`` GPUs, each second rounded up."""
    return Triple(*(math.ceil(s) * usd_per_gpu_second * gpus for s in seconds))


@dataclass(frozen=True)
class PricedCost:
    """One cost line of a job: what was billed, at which price, from which source.

    ``usd`` is the amount to book: exact when the billed seconds are known, else the upper bound
    (``usd_low`` .. ``usd_high`` says how uncertain it is)."""

    kind: CostKind
    usd: float
    usd_low: float
    usd_high: float
    billed_seconds: float
    gpu: str | None
    gpu_count: int
    backend: str
    price_usd: float
    price_unit: str
    price_source: str
    price_date: dt.date | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["price_date"] = self.price_date.isoformat() if self.price_date else None
        return d


def _price(catalogue: GpuCatalogue, gpu: str, kind: PriceKind) -> tuple[str, Price]:
    spec = catalogue.get(gpu)
    price = spec.price(kind)
    if price is None:
        raise ConfigError(
            f"gpu={gpu!r}: no {kind} price in the catalogue",
            param="gpu",
            hint="set LORAPIPE_RUNPOD_API_KEY to read live prices, or record the price by hand",
        )
    return spec.id, price


def serverless_actual_cost(
    catalogue: GpuCatalogue,
    gpu: str,
    *,
    execution_ms: float,
    delay_ms: float,
    gpu_count: int = 1,
    cold_start_ms: float | None = None,
    idle_timeout_s: float = SERVERLESS_IDLE_TIMEOUT_S,
    tier: Literal["serverless_flex", "serverless_active"] = "serverless_flex",
) -> PricedCost:
    """Compute cost of one RunPod serverless request from its ``/status`` timings."""
    gpu_id, price = _price(catalogue, gpu, tier)
    execution = execution_ms / 1000.0
    low_s = math.ceil(execution + idle_timeout_s)
    high_s = math.ceil(execution + delay_ms / 1000.0 + idle_timeout_s)
    if cold_start_ms is not None:
        low_s = high_s = math.ceil(execution + min(cold_start_ms, delay_ms) / 1000.0 + idle_timeout_s)
    per = price.usd * gpu_count
    exact = cold_start_ms is not None
    return PricedCost(
        kind="compute",
        usd=round(high_s * per, 6),
        usd_low=round(low_s * per, 6),
        usd_high=round(high_s * per, 6),
        billed_seconds=high_s,
        gpu=gpu_id,
        gpu_count=gpu_count,
        backend="runpod-serverless",
        price_usd=price.usd,
        price_unit="USD per GPU-second",
        price_source=catalogue.source_text(price),
        price_date=price.date,
        detail=(
            f"execution {execution:.1f} s + cold start {(cold_start_ms or 0) / 1000:.1f} s (measured) "
            f"+ idle {idle_timeout_s:.0f} s"
            if exact
            else f"execution {execution:.1f} s + up to {delay_ms / 1000:.1f} s delay (queue wait is not billed, "
            f"cold start is) + idle {idle_timeout_s:.0f} s; booked at the upper bound"
        ),
    )


def pod_actual_cost(
    catalogue: GpuCatalogue,
    gpu: str,
    *,
    runtime_s: float,
    gpu_count: int = 1,
    tier: Literal["pod_secure", "pod_community"] = "pod_secure",
) -> PricedCost:
    """Compute cost of a pod from its runtime (created → terminated/stopped), billed per second."""
    gpu_id, price = _price(catalogue, gpu, tier)
    seconds = math.ceil(runtime_s)
    usd = round(seconds * price.usd / 3600.0 * gpu_count, 6)
    return PricedCost(
        kind="compute",
        usd=usd,
        usd_low=usd,
        usd_high=usd,
        billed_seconds=seconds,
        gpu=gpu_id,
        gpu_count=gpu_count,
        backend="runpod-pod",
        price_usd=price.usd,
        price_unit="USD per GPU-hour",
        price_source=catalogue.source_text(price),
        price_date=price.date,
        detail=f"pod runtime {runtime_s:.0f} s ({tier.removeprefix('pod_')} cloud)",
    )


def storage_cost(gb: float, seconds: float, usd_per_gb_month: float, *, what: str, source: str) -> PricedCost:
    """Storage held for ``seconds`` (network volume $0.07/GB/month, container disk ~$0.10/GB/month)."""
    usd = round(gb * usd_per_gb_month * seconds / SECONDS_PER_MONTH, 6)
    return PricedCost(
        kind="storage",
        usd=usd,
        usd_low=usd,
        usd_high=usd,
        billed_seconds=math.ceil(seconds),
        gpu=None,
        gpu_count=0,
        backend="storage",
        price_usd=usd_per_gb_month,
        price_unit="USD per GB-month",
        price_source=source,
        price_date=None,
        detail=f"{what}: {gb:.1f} GB for {seconds / 3600:.2f} h",
    )


def local_actual_cost(seconds: float, device: str) -> PricedCost:
    """A local run costs nothing we can bill; recorded so every job has a compute line."""
    return PricedCost(
        kind="compute",
        usd=0.0,
        usd_low=0.0,
        usd_high=0.0,
        billed_seconds=math.ceil(seconds),
        gpu=None if device == "cpu" else device,
        gpu_count=0 if device == "cpu" else 1,
        backend="local",
        price_usd=0.0,
        price_unit="n/a",
        price_source="local hardware (not billed)",
        price_date=None,
        detail=f"{seconds:.0f} s on local {device}",
    )


def estimate_error(estimated_usd: Triple, actual_usd: float) -> dict[str, float | bool]:
    """Estimate vs actual, kept for calibration: signed error of the mid, and whether it was in range."""
    mid = estimated_usd.mid
    return {
        "estimated_mid_usd": round(mid, 6),
        "actual_usd": round(actual_usd, 6),
        "error_pct": round(100.0 * (mid - actual_usd) / actual_usd, 1) if actual_usd else 0.0,
        "within_range": estimated_usd.low <= actual_usd <= estimated_usd.high,
    }
