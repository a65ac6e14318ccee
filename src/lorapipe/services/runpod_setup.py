"""Setting up RunPod for this service, and checking a live setup: what ``lorapipe runpod deploy`` creates
(a serverless template and endpoint for the lorapipe worker image) and what ``lorapipe runpod doctor``
checks. The CLI only prints; everything decided here is testable against the fake REST API.

Why the checks: each one is a way a real deployment failed or billed for nothing — a key without access,
an endpoint id from another account, a network volume in another datacenter than the workers (they cannot
mount it, so every job downloads the base model again or fails), a ``latest`` image tag (workers silently
run a different worker than the service expects), an execution timeout shorter than the jobs the service
admits (RunPod kills them mid-run), an idle timeout or minimum worker count that bills idle GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lorapipe.backends.runpod_pod import secret_ref
from lorapipe.backends.runpod_pod_admission import resolve_gpu
from lorapipe.backends.runpod_rest import RunpodRest
from lorapipe.errors import AuthError, ConfigError, LorapipeError, NotFoundError
from lorapipe.settings import Settings

VOLUME_MOUNT = "/runpod-volume"
#: Idle seconds a worker may wait for the next job; above this, idle GPU time costs more than cold starts.
MAX_IDLE_TIMEOUT_S = 60


def image_tag_problem(image: str | None) -> str | None:
    """Why ``image`` is not pinned (None when it is): no tag, or ``latest``."""
    if not image:
        return "no worker image is set"
    name = image.rsplit("/", 1)[-1]
    if "@sha256:" in image:
        return None
    if ":" not in name:
        return f"{image!r} has no tag (Docker reads it as 'latest')"
    if name.rsplit(":", 1)[1] == "latest":
        return f"{image!r} uses the 'latest' tag"
    return None


@dataclass(frozen=True)
class DeployOptions:
    image: str
    gpus: list[str]
    datacenters: list[str] = field(default_factory=list)
    volume_id: str | None = None
    name: str = "lorapipe-worker"
    execution_timeout_s: int = 24 * 3600
    idle_timeout_s: int = 5
    workers_min: int = 0
    workers_max: int = 4
    container_disk_gb: int = 50


@dataclass
class DeployPlan:
    template: dict[str, Any]
    endpoint: dict[str, Any]  # ``templateId`` is filled in once the template exists
    volume: dict[str, Any] | None


def place_volume(
    api: RunpodRest, volume_id: str | None, datacenters: list[str]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The network volume and the endpoint's datacenters (default: the volume's). Refuses
    (:class:`ConfigError`) a volume outside those datacenters: workers there cannot mount it."""
    volume = api.get_network_volume(volume_id) if volume_id else None
    datacenters = list(datacenters) or ([str(volume["dataCenterId"])] if volume else [])
    if volume is not None and volume.get("dataCenterId") not in datacenters:
        raise ConfigError(
            f"network volume {volume_id} is in {volume.get('dataCenterId')}, not in the endpoint's "
            f"datacenters ({', '.join(datacenters)}): workers there cannot mount it",
            param="datacenter",
            hint=f"use --datacenter {volume.get('dataCenterId')}, or a volume in one of {', '.join(datacenters)}",
        )
    return volume, datacenters


def plan_deploy(settings: Settings, api: RunpodRest, options: DeployOptions) -> DeployPlan:
    """The two requests ``deploy`` sends. Refuses (:class:`ConfigError`) an unpinned image, a GPU RunPod
    does not name, and a network volume outside the endpoint's datacenters."""
    problem = image_tag_problem(options.image)
    if problem:
        raise ConfigError(problem, param="image", hint="pin a version tag, e.g. lorapipe-worker:0.4.0")
    if settings.resolved_storage_url.startswith("file://"):
        raise ConfigError(
            "the object store is a local folder: RunPod workers cannot reach it",
            param="storage_url",
            hint="set LORAPIPE_STORAGE_URL=s3://bucket/prefix (and its options) before deploying",
        )
    if not options.gpus:
        raise ConfigError("no GPU type given", param="gpu", hint="--gpu H100-SXM (repeat for fallbacks)")
    volume, datacenters = place_volume(api, options.volume_id, options.datacenters)
    env = {
        "LORAPIPE_STORAGE_URL": settings.resolved_storage_url,
        "LORAPIPE_WORKER_MODEL_CACHE_DIR": f"{VOLUME_MOUNT}/lorapipe/models",
        "LORAPIPE_WORKER_REQUIRE_GPU": "true",
        "LORAPIPE_WORKER_REQUIRE_VOLUME": "true" if volume else "false",
    }
    if settings.runpod_storage_secret:
        env["LORAPIPE_STORAGE_OPTIONS"] = secret_ref(settings.runpod_storage_secret)
    template = {
        "name": f"{options.name}-{options.image.rsplit(':', 1)[-1]}",
        "imageName": options.image,
        "isServerless": True,
        "containerDiskInGb": options.container_disk_gb,
        "volumeMountPath": VOLUME_MOUNT,
        "env": env,
    }
    endpoint: dict[str, Any] = {
        "name": options.name,
        "templateId": "",
        "computeType": "GPU",
        "gpuTypeIds": [resolve_gpu(g).runpod_id for g in options.gpus],
        "gpuCount": 1,
        "executionTimeoutMs": options.execution_timeout_s * 1000,
        "idleTimeout": options.idle_timeout_s,
        "workersMin": options.workers_min,
        "workersMax": options.workers_max,
        "scalerType": "QUEUE_DELAY",
        "scalerValue": 4,
    }
    if datacenters:
        endpoint["dataCenterIds"] = datacenters
    if volume is not None:
        endpoint["networkVolumeId"] = str(volume["id"])
    return DeployPlan(template=template, endpoint=endpoint, volume=volume)


def deploy(api: RunpodRest, plan: DeployPlan) -> dict[str, Any]:
    """Create the template, then the endpoint on it; the endpoint RunPod made."""
    template = api.create_template(plan.template)
    plan.endpoint["templateId"] = str(template["id"])
    return api.create_endpoint(plan.endpoint)


def service_settings(endpoint: dict[str, Any], options: DeployOptions) -> dict[str, str]:
    """The settings the service needs to send jobs to ``endpoint``."""
    gpu = resolve_gpu(options.gpus[0])
    values = {
        "LORAPIPE_RUNPOD_ENDPOINT_ID": str(endpoint["id"]),
        "LORAPIPE_RUNPOD_MAX_EXECUTION_S": str(options.execution_timeout_s),
        "LORAPIPE_RUNPOD_MAX_CONCURRENT": str(options.workers_max),
        "LORAPIPE_RUNPOD_WORKER_IMAGE": options.image,
    }
    if gpu.catalogue_id:
        values["LORAPIPE_RUNPOD_ENDPOINT_GPU"] = gpu.catalogue_id
    if options.volume_id:
        values["LORAPIPE_RUNPOD_NETWORK_VOLUME_ID"] = options.volume_id
    return values


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def doctor(settings: Settings, api: RunpodRest) -> list[Check]:
    """Every check of the live configuration, in order; later checks are skipped when an earlier one
    they need failed."""
    checks: list[Check] = []
    try:
        api.list_endpoints()
        checks.append(Check("api key", True, "RunPod accepts the key"))
    except AuthError as exc:
        return [
            Check(
                "api key", False, exc.message, "set LORAPIPE_RUNPOD_API_KEY to a key with read/write access"
            )
        ]
    except LorapipeError as exc:
        return [Check("api key", False, exc.message, "check LORAPIPE_RUNPOD_REST_URL and the network")]
    if not settings.runpod_endpoint_id:
        checks.append(
            Check("endpoint", False, "LORAPIPE_RUNPOD_ENDPOINT_ID is not set", "run `lorapipe runpod deploy`")
        )
        return checks
    try:
        endpoint = api.get_endpoint(settings.runpod_endpoint_id, include_template=True)
    except NotFoundError:
        checks.append(
            Check(
                "endpoint",
                False,
                f"no endpoint {settings.runpod_endpoint_id} in this account",
                "set LORAPIPE_RUNPOD_ENDPOINT_ID to an endpoint of this key's account, or deploy one",
            )
        )
        return checks
    checks.append(Check("endpoint", True, f"{endpoint.get('name')} ({endpoint['id']})"))
    checks.append(_volume_check(settings, api, endpoint))
    image = ((endpoint.get("template") or {}).get("imageName")) or None
    problem = image_tag_problem(image)
    if problem is None and settings.runpod_worker_image and image != settings.runpod_worker_image:
        problem = f"the endpoint runs {image}, the service expects {settings.runpod_worker_image}"
    checks.append(
        Check(
            "image tag",
            problem is None,
            problem or str(image),
            "" if problem is None else "deploy a template with the pinned image the service runs",
        )
    )
    limit_s = int(endpoint.get("executionTimeoutMs") or 0) // 1000
    admits = settings.runpod_max_execution_s
    checks.append(
        Check(
            "execution timeout",
            limit_s >= admits,
            f"{limit_s} s; the service admits jobs estimated up to {admits} s (LORAPIPE_RUNPOD_MAX_EXECUTION_S)",
            ""
            if limit_s >= admits
            else f"raise executionTimeoutMs to {admits * 1000}, or set "
            f"LORAPIPE_RUNPOD_MAX_EXECUTION_S={limit_s} (longer jobs are then refused at creation)",
        )
    )
    idle = int(endpoint.get("idleTimeout") or 5)
    idle_ok = idle <= MAX_IDLE_TIMEOUT_S and int(endpoint.get("workersMin") or 0) == 0
    checks.append(
        Check(
            "idle timeout",
            idle_ok,
            f"{idle} s, workersMin {endpoint.get('workersMin') or 0}",
            ""
            if idle_ok
            else f"set idleTimeout <= {MAX_IDLE_TIMEOUT_S} s and workersMin 0: idle workers are billed",
        )
    )
    return checks


def _volume_check(settings: Settings, api: RunpodRest, endpoint: dict[str, Any]) -> Check:
    attached = endpoint.get("networkVolumeId") or next(iter(endpoint.get("networkVolumeIds") or []), None)
    if not attached:
        return Check(
            "volume",
            False,
            "no network volume attached",
            "attach a network volume (the base-model cache) in the workers' datacenter",
        )
    if settings.runpod_network_volume_id and attached != settings.runpod_network_volume_id:
        return Check(
            "volume",
            False,
            f"the endpoint has {attached}, the service names {settings.runpod_network_volume_id}",
            "make LORAPIPE_RUNPOD_NETWORK_VOLUME_ID and the endpoint agree",
        )
    try:
        volume = api.get_network_volume(str(attached))
    except NotFoundError:
        return Check(
            "volume", False, f"network volume {attached} does not exist", "attach an existing volume"
        )
    datacenters = list(endpoint.get("dataCenterIds") or [])
    if volume.get("dataCenterId") not in datacenters:
        return Check(
            "volume",
            False,
            f"{attached} is in {volume.get('dataCenterId')}, the workers in "
            f"{', '.join(datacenters) or 'any datacenter'}",
            f"set the endpoint's dataCenterIds to [{volume.get('dataCenterId')}]",
        )
    return Check("volume", True, f"{attached} ({volume.get('size')} GB) in {volume.get('dataCenterId')}")
