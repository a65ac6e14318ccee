"""Serving a trained adapter on RunPod Serverless with RunPod's official vLLM worker image: what
``lorapipe adapters deploy`` creates (a template and an endpoint) and what it tells the operator.

Why this shape:
- The vLLM check runs first and its failed reasons refuse the deploy: a worker that cannot load the
  adapter still starts, bills GPU time, and fails every request.
- The worker reads ``LORA_MODULES`` (a JSON list of ``{"name", "path"}``, passed to vLLM's
  ``--lora-modules``), whose path is a Hugging Face repo or a local folder; it cannot fetch our object
  store. So the adapter lives on the network volume under :data:`ADAPTERS_DIR`, put there by the operator
  from a pod with the volume (:func:`operator_steps`), and the endpoint must mount that volume.
- Base models already live on the volume in Hugging Face's cache layout (``lorapipe models pull``), so
  the worker's HF cache points there and a cold start reads instead of downloading.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from lorapipe.backends.runpod_pod_admission import resolve_gpu
from lorapipe.backends.runpod_rest import RunpodRest
from lorapipe.errors import ConfigError, UserError
from lorapipe.services.adapter_check import AdapterCheck
from lorapipe.services.runpod_setup import (
    MAX_IDLE_TIMEOUT_S,
    VOLUME_MOUNT,
    DeployPlan,
    image_tag_problem,
    place_volume,
)

VLLM_WORKER_IMAGE = "runpod/worker-v1-vllm:v2.18.1"
"""RunPod's official vLLM worker (github.com/runpod-workers/worker-vllm), pinned: a moving tag would
change the vLLM version, and with it which adapters load, under a running endpoint."""
MODELS_HUB = f"{VOLUME_MOUNT}/lorapipe/models/hub"
ADAPTERS_DIR = f"{VOLUME_MOUNT}/lorapipe/adapters"
POD_MOUNT = "/workspace"
"""Where a pod mounts a network volume (serverless workers: :data:`VOLUME_MOUNT`)."""


def folder_name(name: str) -> str:
    """The folder ``lorapipe adapters download`` writes an adapter called ``name`` into."""
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name)


@dataclass(frozen=True)
class AdapterDeployOptions:
    """``name``: the adapter's name, which becomes the model name clients send."""

    name: str
    gpus: list[str]
    volume_id: str | None
    datacenters: tuple[str, ...] = ()
    image: str = VLLM_WORKER_IMAGE
    idle_timeout_s: int = 5
    workers_max: int = 1
    max_model_len: int | None = None
    container_disk_gb: int = 30


@dataclass(frozen=True)
class AdapterServing:
    """What a client needs once the endpoint exists."""

    base_url: str
    model: str


def openai_base_url(endpoint_id: str) -> str:
    """RunPod's OpenAI-compatible route for a vLLM worker endpoint."""
    return f"https://api.runpod.ai/v2/{endpoint_id}/openai/v1"


def refusal(check: AdapterCheck) -> UserError | None:
    """The error that refuses an adapter vLLM will not load (each failed check's reason), or None."""
    if check.compatible:
        return None
    reasons = "; ".join(f"{f.check}: {f.message}" for f in check.findings if not f.ok)
    return UserError(
        f"the adapter will not load in vLLM ({reasons})",
        param="adapter",
        hint="fix what the check names (lorapipe adapters check ID --for vllm), or export a merged model",
    )


def plan_adapter_deploy(api: RunpodRest, check: AdapterCheck, options: AdapterDeployOptions) -> DeployPlan:
    """The template and endpoint requests for serving the checked adapter. Refuses an adapter vLLM will
    not load, no volume, a volume outside the endpoint's datacenters, an unpinned image, no GPU."""
    refused = refusal(check)
    if refused is not None:
        raise refused
    problem = image_tag_problem(options.image)
    if problem:
        raise ConfigError(problem, param="image", hint=f"pin a version tag, e.g. {VLLM_WORKER_IMAGE}")
    if not options.gpus:
        raise ConfigError("no GPU type given", param="gpu", hint="--gpu L40S (repeat for fallbacks)")
    if not options.volume_id:
        raise ConfigError(
            "no network volume given: the worker reads the base model and the adapter from it",
            param="volume",
            hint="--volume ID (or LORAPIPE_RUNPOD_NETWORK_VOLUME_ID): the volume `lorapipe models pull` filled",
        )
    if options.idle_timeout_s > MAX_IDLE_TIMEOUT_S:
        raise ConfigError(
            f"idle timeout {options.idle_timeout_s} s bills idle GPUs",
            param="idle_timeout_s",
            hint=f"use at most {MAX_IDLE_TIMEOUT_S} s",
        )
    volume, datacenters = place_volume(api, options.volume_id, list(options.datacenters))
    assert volume is not None and check.base_model is not None and check.max_lora_rank is not None
    env = {
        "MODEL_NAME": check.base_model,
        "HF_HUB_CACHE": MODELS_HUB,
        # The image sets the legacy name to its own cache folder; both must name the volume's.
        "HUGGINGFACE_HUB_CACHE": MODELS_HUB,
        "ENABLE_LORA": "true",
        "MAX_LORAS": "1",
        "MAX_LORA_RANK": str(check.max_lora_rank),
        "LORA_MODULES": json.dumps(
            [{"name": options.name, "path": f"{ADAPTERS_DIR}/{folder_name(options.name)}"}]
        ),
    }
    if check.revision:
        env["MODEL_REVISION"] = check.revision
    if options.max_model_len:
        env["MAX_MODEL_LEN"] = str(options.max_model_len)
    endpoint_name = f"lorapipe-vllm-{folder_name(options.name)}"[:60]
    template = {
        "name": f"{endpoint_name}-{options.image.rsplit(':', 1)[-1]}",
        "imageName": options.image,
        "isServerless": True,
        "containerDiskInGb": options.container_disk_gb,
        "volumeMountPath": VOLUME_MOUNT,
        "env": env,
    }
    endpoint: dict[str, Any] = {
        "name": endpoint_name,
        "templateId": "",
        "computeType": "GPU",
        "gpuTypeIds": [resolve_gpu(g).runpod_id for g in options.gpus],
        "gpuCount": 1,
        "idleTimeout": options.idle_timeout_s,
        "workersMin": 0,
        "workersMax": options.workers_max,
        "scalerType": "QUEUE_DELAY",
        "scalerValue": 4,
        "dataCenterIds": datacenters,
        "networkVolumeId": str(volume["id"]),
    }
    return DeployPlan(template=template, endpoint=endpoint, volume=volume)


def serving(endpoint: dict[str, Any], options: AdapterDeployOptions) -> AdapterServing:
    """The OpenAI base URL and model name of a created endpoint."""
    return AdapterServing(base_url=openai_base_url(str(endpoint["id"])), model=options.name)


def operator_steps(adapter: str, name: str, base: str, volume_id: str, *, local_folder: bool) -> list[str]:
    """The steps lorapipe cannot do from here: put the adapter (and the base) on the volume, from a pod
    that mounts it. A pod mounts a network volume at ``/workspace``; serverless workers see the same
    volume at ``/runpod-volume``. ``adapter``: the id on the service, or a local folder."""
    target = f"{POD_MOUNT}/lorapipe/adapters"
    if local_folder:
        fetch = f"copy the folder {shlex.quote(adapter)} to {target}/{folder_name(name)}"
    else:
        fetch = f"lorapipe adapters download {shlex.quote(adapter)} --to {target}/"
    return [
        f"on a pod with network volume {volume_id} attached: {fetch}",
        f"the base model must be there too: lorapipe models pull {shlex.quote(base)} --to {POD_MOUNT}/lorapipe/models",
    ]
