"""Live pod prices from RunPod's API (the ``runpod`` SDK's GraphQL ``gpuTypes`` query).

RunPod's API quotes pod prices per GPU type (``securePrice``, ``communityPrice``, USD per hour);
serverless prices are not in it, so those stay the catalogue's. Without an API key, or when a call
fails, the catalogue is returned unchanged and ``prices_as_of`` keeps showing its date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lorapipe.estimate.catalogue import GpuCatalogue, Price
from lorapipe.settings import Settings

LIVE_SOURCE = "RunPod API gpuTypes (live)"
GetGpu = Callable[[str, str], dict[str, Any]]


def _sdk_get_gpu(gpu_type_id: str, api_key: str) -> dict[str, Any]:
    # Imported here: the runpod SDK is an optional extra and slow to import.
    from runpod.api.ctl_commands import get_gpu

    result: dict[str, Any] = get_gpu(gpu_type_id, api_key=api_key)
    return result


@dataclass
class RefreshResult:
    """The catalogue to use, which GPUs got live prices, and why others did not."""

    catalogue: GpuCatalogue
    refreshed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return bool(self.refreshed)


def _live_price(value: Any, today: dt.date) -> Price | None:
    # RunPod answers 0 or null for a tier where the GPU is not offered right now.
    try:
        usd = float(value)
    except (TypeError, ValueError):
        return None
    return Price(usd=usd, source=LIVE_SOURCE, date=today) if usd > 0 else None


def refresh_catalogue(
    catalogue: GpuCatalogue,
    api_key: str | None,
    *,
    get_gpu: GetGpu = _sdk_get_gpu,
    now: dt.datetime | None = None,
) -> RefreshResult:
    """Replace pod prices with RunPod's live ones where the API answers; keep the rest.

    A tier the API does not offer right now keeps its catalogue price (with the catalogue's date),
    so a missing quote never turns into a free GPU."""
    if not api_key:
        return RefreshResult(catalogue, problems=["no RunPod API key configured: catalogue prices"])
    now = now or dt.datetime.now(dt.UTC)
    gpus = []
    result = RefreshResult(catalogue)
    for g in catalogue.gpus:
        if not g.runpod_gpu_type_id:
            gpus.append(g)
            continue
        try:
            answer = get_gpu(g.runpod_gpu_type_id, api_key)
        except Exception as exc:  # the SDK raises its own error types and requests' ones
            result.problems.append(f"{g.id}: {type(exc).__name__}: {exc}")
            gpus.append(g)
            if "auth" in type(exc).__name__.lower() or "unauthorized" in str(exc).lower():
                result.problems.append("RunPod rejected the API key: catalogue prices for the rest")
                gpus.extend(catalogue.gpus[len(gpus) :])
                break
            continue
        secure = _live_price(answer.get("securePrice"), now.date())
        community = _live_price(answer.get("communityPrice"), now.date())
        if secure is None and community is None:
            result.problems.append(f"{g.id}: RunPod quoted no pod price right now")
            gpus.append(g)
            continue
        gpus.append(
            g.model_copy(
                update={
                    "pod_secure_usd_per_h": secure or g.pod_secure_usd_per_h,
                    "pod_community_usd_per_h": community or g.pod_community_usd_per_h,
                }
            )
        )
        result.refreshed.append(g.id)
    if result.refreshed:
        result.catalogue = catalogue.model_copy(
            update={
                "gpus": tuple(gpus),
                "live_prices_at": now,
                "sources": {**catalogue.sources, LIVE_SOURCE: LIVE_SOURCE},
            }
        )
    return result


def catalogue_for(
    settings: Settings, catalogue: GpuCatalogue, *, get_gpu: GetGpu = _sdk_get_gpu
) -> RefreshResult:
    """The catalogue with live prices when ``settings.runpod_api_key`` is set."""
    key = settings.runpod_api_key.get_secret_value() if settings.runpod_api_key else None
    return refresh_catalogue(catalogue, key, get_gpu=get_gpu)


_CACHE: dict[str, tuple[float, GpuCatalogue]] = {}
CACHE_SECONDS = 600.0  # live prices move daily; one API round per GPU every 10 minutes is plenty


def cached_catalogue(settings: Settings, *, get_gpu: GetGpu = _sdk_get_gpu) -> GpuCatalogue:
    """The packaged catalogue, with live pod prices when a key is set, refreshed every 10 minutes."""
    from lorapipe.estimate.catalogue import load_catalogue

    if settings.runpod_api_key is None:
        return load_catalogue()
    key = settings.runpod_api_key.get_secret_value()
    slot = hashlib.sha256(key.encode()).hexdigest()  # the cache never holds the key itself
    now = time.monotonic()
    hit = _CACHE.get(slot)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    catalogue = refresh_catalogue(load_catalogue(), key, get_gpu=get_gpu).catalogue
    _CACHE.clear()  # one key per process in practice; never keep old keys around
    _CACHE[slot] = (now, catalogue)
    return catalogue
