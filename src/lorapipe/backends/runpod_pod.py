"""The RunPod pod backend: each attempt is one pod that runs the lorapipe worker image's
``python -m lorapipe.worker.pod`` (one attempt, then exit), for runs longer than a serverless endpoint
allows. A pod is never left running: it is terminated as soon as its attempt ended.

How it follows RunPod's REST API (``runpod_rest``):

- ``POST /pods``: the GPU type and count (``spec["gpus"]``, default 1), the cloud, the worker image, the
  network volume (the base-model cache, at ``/runpod-volume``), the start command, and an environment
  built from the service's settings: the store and its options, ``runpod_pod_env``, and the attempt as
  ``LORAPIPE_WORKER_POD_JOB`` (the spec with the dataset as a presigned URL: no secret in it). The pod's
  name, ``lorapipe-<service id>.<job>.<attempt>``, tells the sweeper whose it is.
- Progress: the worker keeps the engine's event log in the store; each poll reads the new events. The
  worker's result object (``result.json`` beside the log) says the attempt ended and how.
- ``GET /pods/{id}``: ``desiredStatus`` RUNNING (or anything not ended) with no result is running; a result
  ends the attempt with the engine's exit code; EXITED, TERMINATED or a 404 without a result is a pod that
  died: a clear error, retried within the job's attempts. Then ``DELETE /pods/{id}`` (terminate).
- Cancel: ``POST /pods/{id}/stop`` stops the container, whose main process gets SIGTERM; the worker passes
  it on to the engine, which checkpoints and exits 3. ``force`` (the grace period is over, or a timeout)
  terminates at once. The job's time limit is the reconciler's clock (a pod has no limit of its own).
- Cost: the pod's runtime (creation to termination, as RunPod bills it per second) × its ``costPerHr``
  from the API (the whole pod, every GPU), reported as the attempt's billing; without a ``costPerHr`` the
  estimator's catalogue price applies (services.costs).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from lorapipe.backends.base import PollResult, Submission, event_lines, in_seq_order
from lorapipe.backends.runpod_answers import renumbered, worker_error
from lorapipe.backends.runpod_input import events_key, worker_input
from lorapipe.backends.runpod_pod_admission import missing_configuration, resolve_gpu, tier
from lorapipe.backends.runpod_rest import RunpodRest
from lorapipe.contract.events import ExitCode
from lorapipe.errors import CapacityError, ConfigError, LorapipeError, NotFoundError
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

log = logging.getLogger(__name__)

NAME = "runpod-pod"
# The image's ENTRYPOINT is the serverless worker (docker/worker/Dockerfile); a pod replaces it, and the
# start CMD is appended to the entrypoint as docker does: together ``python -m lorapipe.worker.pod``.
ENTRYPOINT = ["python"]
START_CMD = ["-m", "lorapipe.worker.pod"]
VOLUME_MOUNT = "/runpod-volume"
ENDED = frozenset({"EXITED", "TERMINATED"})


def secret_ref(name: str) -> str:
    """How a RunPod template or pod env refers to an account secret (docs: pods/templates/secrets)."""
    return "{{ RUNPOD_SECRET_" + name + " }}"


def pod_name(service_id: str, job_id: str, attempt_id: str) -> str:
    return f"lorapipe-{service_id}.{job_id}.{attempt_id}"


def attempt_of(name: str, service_id: str) -> str | None:
    """The attempt id in the name of one of this service's pods; None for anyone else's pod."""
    prefix = f"lorapipe-{service_id}."
    parts = name[len(prefix) :].split(".") if name.startswith(prefix) else []
    return parts[1] if len(parts) == 2 and all(parts) else None


class RunpodPodBackend:
    """Pods of one GPU type in one RunPod account, at most ``settings.runpod_pod_max_concurrent`` at once."""

    name = NAME

    def __init__(self, settings: Settings, objects: ObjectStore, api: RunpodRest | None = None) -> None:
        why = missing_configuration(settings)
        if why is not None or settings.runpod_api_key is None:
            raise ConfigError(f"{NAME} is not configured: {why}", param="backend")
        self.settings = settings
        self.objects = objects
        self.api = api or RunpodRest(settings.runpod_api_key.get_secret_value(), settings.runpod_rest_url)
        self.gpu = resolve_gpu(settings.runpod_pod_gpu or "")
        self._in_flight: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> RunpodPodBackend:
        return cls(settings, ObjectStore.from_settings(settings))

    def free_slots(self) -> int:
        return max(0, self.settings.runpod_pod_max_concurrent - len(self._in_flight))

    # --- submit -------------------------------------------------------------------------------------

    def pod_request(self, submission: Submission) -> dict[str, Any]:
        """The ``PodCreateInput`` of one attempt."""
        s = self.settings
        env = {"LORAPIPE_STORAGE_URL": s.resolved_storage_url, **s.runpod_pod_env}
        if s.runpod_storage_secret:  # RunPod puts the secret's value in the pod: no credential in the request
            env["LORAPIPE_STORAGE_OPTIONS"] = secret_ref(s.runpod_storage_secret)
        elif s.storage_options:
            env["LORAPIPE_STORAGE_OPTIONS"] = json.dumps(s.storage_options)
        env["LORAPIPE_WORKER_POD_JOB"] = json.dumps(
            worker_input(submission, self.objects, s.runpod_presign_s)
        )
        body: dict[str, Any] = {
            "name": pod_name(s.runpod_service_id, submission.job_id, submission.attempt_id),
            "imageName": s.runpod_worker_image,
            "computeType": "GPU",
            "gpuTypeIds": [self.gpu.runpod_id],
            "gpuCount": int(submission.spec.get("gpus") or 1),
            "cloudType": s.runpod_pod_cloud,
            "containerDiskInGb": s.runpod_pod_container_disk_gb,
            "dockerEntrypoint": ENTRYPOINT,
            "dockerStartCmd": START_CMD,
            "env": env,
            "ports": [],
        }
        if s.runpod_network_volume_id:
            body.update(networkVolumeId=s.runpod_network_volume_id, volumeMountPath=VOLUME_MOUNT)
        else:
            body["volumeInGb"] = 0
        return body

    def submit(self, submission: Submission) -> dict[str, Any]:
        if self.free_slots() <= 0:
            raise CapacityError(f"{NAME}: {self.settings.runpod_pod_max_concurrent} pods already running")
        body = self.pod_request(submission)
        try:
            pod = self.api.create_pod(body)
        except ConfigError as exc:
            raise LorapipeError(
                exc.message, hint="check the runpod-pod settings (gpu, image, volume)"
            ) from None
        pod_id = str(pod["id"])
        self._in_flight.add(pod_id)
        log.info(
            "attempt %s: pod %s created (%s x%d)",
            submission.attempt_id,
            pod_id,
            self.gpu.runpod_id,
            body["gpuCount"],
        )
        run = f"runs/{submission.job_id}/{submission.attempt_id}"
        handle: dict[str, Any] = {
            "pod_id": pod_id,
            "seq": 0,
            "created_at": time.time(),
            "events_key": events_key(submission),
            "result_key": f"{run}/result.json",
            "billing": {"gpu_count": body["gpuCount"], "tier": tier(self.settings), "pod_id": pod_id},
        }
        if self.gpu.catalogue_id:
            handle["billing"]["gpu"] = self.gpu.catalogue_id
        return self._priced(handle, pod)

    # --- poll ---------------------------------------------------------------------------------------

    def poll(self, handle: dict[str, Any]) -> PollResult:
        pod_id = str(handle["pod_id"])
        # Held until the pod is gone: after a restart, while RunPod does not answer, and while a
        # terminate is retried, the pod still bills and counts against the concurrency limit.
        self._in_flight.add(pod_id)
        handle = dict(handle)
        events = self._new_events(handle)  # the log before the result: a result means the log is complete
        handle["seq"] = max([int(handle.get("seq", 0)), *(int(e["seq"]) for e in events)])
        result = self._result(handle)
        status = "GONE"
        try:
            pod = self.api.get_pod(pod_id)
            status = str(pod.get("desiredStatus") or "")
            handle = self._priced(handle, pod)
        except NotFoundError:
            pass
        except LorapipeError:
            if result is None:
                return PollResult(events=events, state="running", handle=handle)  # ask again next tick
            status = "UNKNOWN"
        handle["pod_status"] = status
        if result is None and status not in ENDED and status != "GONE":
            return PollResult(events=events, state="running", handle=handle)
        if status != "GONE" and status != "TERMINATED" and not self._terminate(pod_id):
            return PollResult(events=events, state="running", handle=handle)  # terminate again next tick
        self._in_flight.discard(pod_id)
        handle = self._ended(handle)
        if result is not None:
            code = result.get("exit_code")
            code = int(code) if isinstance(code, int) else int(ExitCode.SYSTEM_ERROR)
            error = worker_error(result.get("error")) if code != 0 else None
            if error is not None:
                error.pop("exit_code", None)
            tail = str(result.get("stderr_tail") or "")
            return PollResult(
                events=events, state="exited", exit_code=code, handle=handle, stderr_tail=tail, error=error
            )
        vanished = status == "GONE"
        return PollResult(
            events=events,
            state="lost" if vanished else "exited",
            exit_code=None if vanished else int(ExitCode.SYSTEM_ERROR),
            handle=handle,
            error={
                "code": "pod_vanished" if vanished else "pod_exited_without_result",
                "kind": "system",
                "message": (
                    f"RunPod no longer knows pod {pod_id} and the attempt left no result"
                    if vanished
                    else f"pod {pod_id} stopped ({status}) before its worker stored a result "
                    "(killed, out of memory, or the image's start command failed)"
                ),
            },
        )

    def cancel(self, handle: dict[str, Any], *, force: bool = False) -> None:
        pod_id = str(handle["pod_id"])
        if force:
            self._terminate(pod_id)
            return
        try:
            self.api.stop_pod(pod_id)  # SIGTERM to the worker: the engine checkpoints, the result is stored
        except NotFoundError:
            return
        except LorapipeError as exc:
            log.warning("pod %s: stop failed (%s); the grace-period kill terminates it", pod_id, exc.message)

    # --- the sweeper ----------------------------------------------------------------------------------

    def sweep(self, live_attempts: Callable[[], Collection[str]]) -> list[str]:
        """Terminate this service's pods whose attempt is not live (its supervisor died, or a terminate
        was lost); the terminated pod ids. The live attempts are read after the pods are listed: a pod
        that another reconciler created meanwhile has its attempt open by then, so it is never taken for
        an orphan."""
        terminated: list[str] = []
        pods = self.api.list_pods()
        live = set(live_attempts())
        for pod in pods:
            attempt = attempt_of(str(pod.get("name") or ""), self.settings.runpod_service_id)
            if attempt is None or attempt in live or pod.get("desiredStatus") == "TERMINATED":
                continue
            if self._terminate(str(pod["id"])):
                terminated.append(str(pod["id"]))
                log.warning(
                    "sweep: terminated pod %s (%s) of attempt %s, which is not running",
                    pod["id"],
                    pod.get("name"),
                    attempt,
                )
        return terminated

    # --- helpers ------------------------------------------------------------------------------------

    def _terminate(self, pod_id: str) -> bool:
        try:
            self.api.delete_pod(pod_id)
        except LorapipeError as exc:
            log.warning("pod %s: terminate failed (%s); tried again", pod_id, exc.message)
            return False
        self._in_flight.discard(pod_id)
        return True

    def _new_events(self, handle: dict[str, Any]) -> list[dict[str, Any]]:
        """The stored log's events after the newest one seen, in the attempt's numbering (the worker tags
        each with its run: :func:`renumbered`); updates the handle's runs."""
        try:
            raw = self.objects.read_bytes(handle["events_key"])
        except (LorapipeError, OSError):
            return []
        seen = int(handle.get("seq", 0))
        handle["runs"], events = renumbered(handle.get("runs") or {}, seen, event_lines(raw))
        return in_seq_order(events, after=seen)

    def _result(self, handle: dict[str, Any]) -> dict[str, Any] | None:
        try:
            data = json.loads(self.objects.read_bytes(handle["result_key"]))
        except (LorapipeError, OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _priced(self, handle: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
        billing = dict(handle.get("billing") or {})
        if isinstance(pod.get("costPerHr"), int | float) and not isinstance(pod.get("costPerHr"), bool):
            billing["usd_per_hr"] = float(pod["costPerHr"])
        machine: dict[str, Any] = pod["machine"] if isinstance(pod.get("machine"), dict) else {}
        if machine.get("dataCenterId"):
            billing["datacenter"] = str(machine["dataCenterId"])
        if pod.get("machineId"):
            billing["worker_id"] = str(pod["machineId"])
        return {**handle, "billing": billing}

    def _ended(self, handle: dict[str, Any]) -> dict[str, Any]:
        ended_at = float(handle.get("ended_at") or time.time())
        runtime = max(0.0, ended_at - float(handle["created_at"]))
        return {
            **handle,
            "ended_at": ended_at,
            "billing": {**handle["billing"], "runtime_s": round(runtime, 3)},
        }
