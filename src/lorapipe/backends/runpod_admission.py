"""Whether a job may go to the RunPod serverless endpoint at all, decided at job creation: is the backend
configured, does the model fit the endpoint's GPU, can the endpoint finish it within its longest
execution (the job's executionTimeout is sized here from its frozen estimate)."""

from __future__ import annotations

import math
from typing import Any

from lorapipe.errors import ConfigError
from lorapipe.settings import Settings


def missing_configuration(settings: Settings) -> str | None:
    """Why this backend cannot run jobs with ``settings`` (None when it can)."""
    if not settings.runpod_endpoint_id:
        return "LORAPIPE_RUNPOD_ENDPOINT_ID is not set"
    if settings.runpod_api_key is None:
        return "LORAPIPE_RUNPOD_API_KEY is not set"
    if (settings.storage_url or "").startswith("file://") or not settings.storage_url:
        return "the object store is a local folder: RunPod workers need a shared store (LORAPIPE_STORAGE_URL=s3://...)"
    return None


def plan_timeout(settings: Settings, estimate: dict[str, Any] | None, requested_s: int | None) -> int:
    """The execution timeout (seconds) a job gets on the endpoint: what the caller asked for, else the
    estimate's upper time on the endpoint's GPU times the margin. Refuses (:class:`ConfigError`, 400) a
    job the endpoint's GPU cannot hold or cannot finish within its longest execution."""
    limit = settings.runpod_max_execution_s
    if requested_s is not None:
        if requested_s > limit:
            raise ConfigError(
                f"timeout_s {requested_s} is over the endpoint's longest execution ({limit} s)",
                param="timeout_s",
                hint="split the run into fewer epochs, or use a pod backend for long runs",
            )
        return requested_s
    option = _endpoint_option(settings, estimate)
    if option is None:
        return limit
    if not option.get("fits", True):
        raise ConfigError(
            f"the endpoint's GPU ({option.get('gpu_name') or option.get('gpu')}, "
            f"{option.get('memory_gib')} GiB) cannot hold this job (≈{_vram(estimate)} GiB estimated)",
            param="model",
            hint="use a smaller model, method 'qlora', a smaller batch_size or max_length, or another endpoint",
        )
    hours = (option.get("hours") or {}).get("high")
    if not isinstance(hours, int | float):
        return limit
    needed = math.ceil(hours * 3600 * settings.runpod_timeout_margin)
    if needed > limit:
        raise ConfigError(
            f"the estimate is up to {hours:.1f} h on {option.get('gpu')}; with the x{settings.runpod_timeout_margin:g} "
            f"margin that is {needed} s, over the endpoint's longest execution ({limit} s)",
            param="backend",
            hint="use the runpod-pod backend for long runs, fewer epochs, or a faster endpoint GPU",
        )
    return max(needed, 600)


def _endpoint_option(settings: Settings, estimate: dict[str, Any] | None) -> dict[str, Any] | None:
    if not estimate or not settings.runpod_endpoint_gpu:
        return None
    for option in estimate.get("options") or []:
        if (
            option.get("gpu") == settings.runpod_endpoint_gpu
            and option.get("tier") == settings.runpod_endpoint_tier
        ):
            return dict(option)
    return None


def _vram(estimate: dict[str, Any] | None) -> str:
    total = ((estimate or {}).get("vram_gib") or {}).get("total")
    return f"{total:.1f}" if isinstance(total, int | float) else "?"
