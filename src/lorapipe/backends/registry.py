"""The explicit list of backends: name -> how to build it, what it needs, what it admits. A job names its
backend; an unknown or unconfigured one is a user error at creation time (400), never a job left queued
or a crash in the reconciler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lorapipe.backends import runpod_admission, runpod_pod, runpod_pod_admission, runpod_serverless
from lorapipe.backends.base import Backend
from lorapipe.backends.local import LocalBackend
from lorapipe.errors import ConfigError
from lorapipe.settings import Settings


def _ready(_: Settings) -> str | None:
    return None


def _as_requested(_: Settings, __: dict[str, Any] | None, requested_s: int | None) -> int | None:
    return requested_s


@dataclass(frozen=True)
class BackendEntry:
    build: Callable[[Settings], Backend]
    #: Why the backend cannot run with these settings (None = it can).
    missing: Callable[[Settings], str | None] = _ready
    #: The job's time limit on this backend from its frozen estimate and the requested timeout_s;
    #: raises ConfigError for a job the backend cannot finish.
    admit: Callable[[Settings, dict[str, Any] | None, int | None], int | None] = _as_requested
    #: The most GPUs one attempt may ask for here (a serverless worker has one).
    max_gpus: int = 8


BACKENDS: dict[str, BackendEntry] = {
    "local": BackendEntry(
        build=lambda settings: LocalBackend(settings.data_dir / "runs", warm=settings.engine_warm)
    ),
    runpod_serverless.NAME: BackendEntry(
        build=runpod_serverless.RunpodServerlessBackend.from_settings,
        missing=runpod_admission.missing_configuration,
        admit=runpod_admission.plan_timeout,
        max_gpus=1,
    ),
    runpod_pod.NAME: BackendEntry(
        build=runpod_pod.RunpodPodBackend.from_settings,
        missing=runpod_pod_admission.missing_configuration,
        admit=runpod_pod_admission.plan_timeout,
    ),
}


def admit_job(
    name: str,
    settings: Settings,
    estimate: dict[str, Any] | None,
    timeout_s: int | None,
    gpus: int = 1,
) -> int | None:
    """Check that ``name`` is a backend this service can run now, with ``gpus`` GPUs; return the job's
    time limit there."""
    entry = BACKENDS.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown backend {name!r}", param="backend", hint=f"choose one of: {', '.join(sorted(BACKENDS))}"
        )
    why = entry.missing(settings)
    if why is not None:
        ready = sorted(n for n, e in BACKENDS.items() if e.missing(settings) is None)
        raise ConfigError(
            f"backend {name!r} is not configured on this service: {why}",
            param="backend",
            hint=f"ask the operator to configure it, or use one of: {', '.join(ready)}",
        )
    if gpus > entry.max_gpus:
        several = sorted(n for n, e in BACKENDS.items() if e.max_gpus >= gpus and e.missing(settings) is None)
        raise ConfigError(
            f"backend {name!r} runs at most {entry.max_gpus} GPU(s) per job, this job asks for {gpus}",
            param="gpus",
            hint=f"use one of: {', '.join(several)}" if several else "ask for fewer GPUs",
        )
    return entry.admit(settings, estimate, timeout_s)


def build_backends(settings: Settings) -> dict[str, Backend]:
    """One instance of every backend the settings configure."""
    return {name: e.build(settings) for name, e in BACKENDS.items() if e.missing(settings) is None}
