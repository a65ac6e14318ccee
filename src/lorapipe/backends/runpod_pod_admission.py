"""Whether a job may go to a RunPod pod, decided at job creation, and which GPU the pods rent.

The GPU setting is a RunPod ``gpuTypeId`` or a name from the estimator's catalogue. The catalogue is read
here as the data file it is (``estimate/data/gpus.json``): backends and estimate are sibling packages and
import none of each other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorapipe.errors import ConfigError
from lorapipe.settings import Settings

CATALOGUE = Path(__file__).resolve().parents[1] / "estimate" / "data" / "gpus.json"


@dataclass(frozen=True)
class PodGpu:
    #: What ``POST /pods`` takes in ``gpuTypeIds``.
    runpod_id: str
    #: The catalogue id the cost records use (None: a RunPod GPU the catalogue does not list).
    catalogue_id: str | None


def resolve_gpu(name: str) -> PodGpu:
    """The RunPod gpuTypeId and catalogue id of ``name`` (a catalogue id or alias, or a gpuTypeId). A name
    the catalogue does not know is taken as a gpuTypeId (RunPod refuses an unknown one at pod creation)."""
    key = name.strip().lower()
    for gpu in json.loads(CATALOGUE.read_text("utf-8"))["gpus"]:
        runpod_id = gpu.get("runpod_gpu_type_id")
        names = {str(gpu["id"]).lower(), *(str(a).lower() for a in gpu.get("aliases") or [])}
        if key in names or (runpod_id and key == str(runpod_id).lower()):
            if not runpod_id:
                raise ConfigError(
                    f"runpod_pod_gpu={name!r}: the catalogue lists no RunPod gpuTypeId for it",
                    param="runpod_pod_gpu",
                    hint="set LORAPIPE_RUNPOD_POD_GPU to RunPod's gpuTypeId, e.g. 'NVIDIA H100 80GB HBM3'",
                )
            return PodGpu(runpod_id=str(runpod_id), catalogue_id=str(gpu["id"]))
    return PodGpu(runpod_id=name.strip(), catalogue_id=None)


def tier(settings: Settings) -> str:
    """The price column of the pods' cloud: ``pod_secure`` or ``pod_community``."""
    return f"pod_{settings.runpod_pod_cloud.lower()}"


def missing_configuration(settings: Settings) -> str | None:
    """Why the runpod-pod backend cannot run jobs with ``settings`` (None when it can)."""
    if not settings.runpod_pod_gpu:
        return "LORAPIPE_RUNPOD_POD_GPU is not set"
    if not settings.runpod_worker_image:
        return "LORAPIPE_RUNPOD_WORKER_IMAGE is not set"
    if settings.runpod_api_key is None:
        return "LORAPIPE_RUNPOD_API_KEY is not set"
    if (settings.storage_url or "").startswith("file://") or not settings.storage_url:
        return "the object store is a local folder: pods need a shared store (LORAPIPE_STORAGE_URL=s3://...)"
    return None


def plan_timeout(settings: Settings, estimate: dict[str, Any] | None, requested_s: int | None) -> int | None:
    """The job's time limit on a pod: what the caller asked for, else the estimate's upper time on the
    pods' GPU times the margin (None without an estimate: a pod has no limit of its own). Refuses
    (:class:`ConfigError`, 400) a job the pods' GPUs cannot hold."""
    if requested_s is not None:
        return requested_s
    gpu = resolve_gpu(settings.runpod_pod_gpu or "").catalogue_id
    option = next(
        (
            o
            for o in (estimate or {}).get("options") or []
            if o.get("gpu") == gpu and o.get("tier") == tier(settings)
        ),
        None,
    )
    if option is None:
        return None
    if not option.get("fits", True):
        raise ConfigError(
            f"the pods' GPU ({gpu}, {option.get('memory_gib')} GiB) cannot hold this job",
            param="model",
            hint="use a smaller model, method 'qlora', a smaller batch_size or max_length, or more gpus",
        )
    hours = (option.get("hours") or {}).get("high")
    if not isinstance(hours, int | float):
        return None
    return max(math.ceil(hours * 3600 * settings.runpod_timeout_margin), 600)
