"""A fake of RunPod's management REST API v1 on 127.0.0.1 whose pods really run.

It serves the operations lorapipe uses, with the request and answer shapes of RunPod's OpenAPI document as
pinned in ``tests/fixtures/runpod_rest_v1.json`` (field names, required fields, enums, bounds):
``POST/GET /pods``, ``GET/DELETE /pods/{id}``, ``POST /pods/{id}/stop``, ``POST /templates``,
``POST/GET /endpoints``, ``GET /endpoints/{id}``, ``GET /networkvolumes``, ``GET /networkvolumes/{id}``.
A body with an undocumented field, without a required one, with a value outside an enum or a bound, or
with the wrong JSON type answers 400 ``{"error": ...}``; a missing or wrong ``Bearer`` key 401
``{"message": ...}`` (the document's UnauthorizedError); an unknown id 404.

A created pod runs its ``dockerEntrypoint`` (default: the worker image's ENTRYPOINT, the serverless
worker) followed by its ``dockerStartCmd``, as docker does, as a local process (its own process group) with the pod's
``env`` and nothing of the test's environment (``python`` is this interpreter): the real
``python -m lorapipe.worker.pod`` runs, and the engine it starts. ``desiredStatus`` is ``RUNNING`` while the
process lives and ``EXITED`` once it ended (RunPod keeps a stopped pod until it is terminated); ``/stop``
sends SIGTERM (SIGKILL after :attr:`kill_grace_s`, as ``docker stop`` does); ``DELETE`` sends SIGTERM, then
SIGKILL, and the pod is gone (404). Each pod costs ``gpu_price_per_hr[gpu] x gpuCount`` (its
``costPerHr``) from creation until its process ended or it was terminated: :meth:`charged_usd`.

Every request is kept in :attr:`requests` with the ``Authorization`` value redacted. Knobs:
:attr:`fail_next` (answer the next n requests 503), :attr:`kill_grace_s`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from runpod_rest_shapes import body_problems
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakePod:
    id: str
    body: dict[str, Any]
    cost_per_hr: float
    created: float
    process: subprocess.Popen[bytes] | None = None
    status: str = "RUNNING"
    ended: float | None = None
    exit_code: int | None = None
    signals: list[str] = field(default_factory=list)
    started_iso: str = field(default_factory=_now_iso)

    def as_json(self, volume: dict[str, Any] | None) -> dict[str, Any]:
        gpu = self.body["gpuTypeIds"][0] if self.body.get("gpuTypeIds") else None
        pod = {
            "id": self.id,
            "name": self.body.get("name", "my pod"),
            "desiredStatus": self.status,
            "costPerHr": self.cost_per_hr,
            "adjustedCostPerHr": self.cost_per_hr,
            "image": self.body.get("imageName"),
            "env": self.body.get("env", {}),
            "dockerStartCmd": self.body.get("dockerStartCmd", []),
            "containerDiskInGb": self.body.get("containerDiskInGb", 50),
            "volumeMountPath": self.body.get("volumeMountPath", "/workspace"),
            "interruptible": bool(self.body.get("interruptible", False)),
            "lastStartedAt": self.started_iso,
            "lastStatusChange": f"{self.status.title()}: {self.exit_code}"
            if self.ended
            else "Rented by User",
            "machineId": f"m-{self.id[:6]}",
            "machine": {"dataCenterId": (volume or {}).get("dataCenterId", "EU-RO-1"), "gpuTypeId": gpu},
            "gpu": {"id": gpu, "count": self.body.get("gpuCount", 1), "displayName": gpu},
        }
        if volume:
            pod["networkVolume"] = volume
        return pod


class FakeRunpodRest:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.api_key = "rpa_" + secrets.token_hex(16)
        self.pods: dict[str, FakePod] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        #: Account secrets (name -> value) that ``{{ RUNPOD_SECRET_<name> }}`` in a pod's env resolves to.
        self.secrets: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.gpu_price_per_hr: dict[str, float] = {}
        self.default_price_per_hr = 2.5
        self.kill_grace_s = 10.0
        self.fail_next = 0
        #: The ENTRYPOINT of the worker image every pod runs (docker/worker/Dockerfile).
        self.image_entrypoint = ["python", "-m", "lorapipe.worker"]
        self._lock = threading.RLock()
        self.url = ""

    # --- test controls -----------------------------------------------------------------------------

    @classmethod
    def start(cls, workdir: Path) -> FakeRunpodRest:
        fake = cls(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        fake._serve()
        return fake

    def add_volume(self, volume_id: str, datacenter: str, size: int = 100, name: str = "models") -> None:
        self.volumes[volume_id] = {"id": volume_id, "name": name, "size": size, "dataCenterId": datacenter}

    def live_pods(self) -> list[FakePod]:
        with self._lock:
            return [p for p in self.pods.values() if p.status != "TERMINATED"]

    def charged_usd(self, pod_id: str) -> float:
        pod = self.pods[pod_id]
        return ((pod.ended or time.time()) - pod.created) * pod.cost_per_hr / 3600.0

    def wait_for(self, pod_id: str, status: str, limit_s: float = 60) -> FakePod:
        deadline = time.monotonic() + limit_s
        while self.pods[pod_id].status != status:
            if time.monotonic() > deadline:
                raise AssertionError(f"pod {pod_id} is {self.pods[pod_id].status}, not {status}")
            time.sleep(0.05)
        return self.pods[pod_id]

    def stop(self) -> None:
        for pod in list(self.pods.values()):
            self._kill(pod, grace_s=1.0)
        self._server.should_exit = True
        self._thread.join(5)

    # --- pods as processes -------------------------------------------------------------------------

    def _launch(self, pod: FakePod) -> None:
        env = {k: self._resolve(str(v)) for k, v in (pod.body.get("env") or {}).items()}
        env.update(
            PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", HOME=str(self.workdir), PYTHONUNBUFFERED="1"
        )
        env["RUNPOD_POD_ID"] = pod.id  # RunPod sets it in every pod
        log = (self.workdir / f"pod-{pod.id}.log").open("ab")
        # As docker runs a container: the entrypoint (the request's, else the image's), then the start
        # command (the request's, else the image's) as its arguments.
        command = [
            *(pod.body.get("dockerEntrypoint") or self.image_entrypoint),
            *(pod.body.get("dockerStartCmd") or []),
        ]
        pod.process = subprocess.Popen(
            command,
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._reap, args=(pod,), daemon=True).start()

    def _resolve(self, value: str) -> str:
        """``{{ RUNPOD_SECRET_<name> }}`` replaced by the account secret's value, as RunPod does at boot."""
        for name, secret in self.secrets.items():
            value = value.replace("{{ RUNPOD_SECRET_" + name + " }}", secret)
        return value

    def _reap(self, pod: FakePod) -> None:
        assert pod.process is not None
        code = pod.process.wait()
        with self._lock:
            pod.exit_code = code
            pod.ended = pod.ended or time.time()
            if pod.status == "RUNNING":
                pod.status = "EXITED"

    def _signal(self, pod: FakePod, sig: signal.Signals) -> None:
        if pod.process is not None and pod.process.poll() is None:
            pod.signals.append(sig.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pod.process.pid, sig)

    def _kill(self, pod: FakePod, grace_s: float) -> None:
        """SIGTERM now, SIGKILL after ``grace_s`` if the process is still there (in the background)."""
        self._signal(pod, signal.SIGTERM)

        def later() -> None:
            if pod.process is not None:
                try:
                    pod.process.wait(grace_s)
                except subprocess.TimeoutExpired:
                    self._signal(pod, signal.SIGKILL)

        threading.Thread(target=later, daemon=True).start()

    # --- HTTP --------------------------------------------------------------------------------------

    def _volume_of(self, pod: FakePod) -> dict[str, Any] | None:
        return self.volumes.get(pod.body.get("networkVolumeId", ""))

    async def _create_pod(self, request: Request) -> Response:
        body = await request.json()
        problems = body_problems("PodCreateInput", body)
        if not body.get("imageName") and not body.get("templateId"):
            problems.append("'imageName' or 'templateId' is required")
        if body.get("networkVolumeId") and body["networkVolumeId"] not in self.volumes:
            problems.append(f"network volume {body['networkVolumeId']!r} not found")
        if problems:
            return JSONResponse({"error": "; ".join(problems)}, status_code=400)
        gpu = (body.get("gpuTypeIds") or ["?"])[0]
        price = self.gpu_price_per_hr.get(gpu, self.default_price_per_hr) * int(body.get("gpuCount", 1))
        pod = FakePod(id=secrets.token_hex(7), body=body, cost_per_hr=round(price, 4), created=time.time())
        with self._lock:
            self.pods[pod.id] = pod
        self._launch(pod)
        return JSONResponse(pod.as_json(self._volume_of(pod)), status_code=201)

    def _pod(self, request: Request) -> FakePod | None:
        pod = self.pods.get(request.path_params["pod_id"])
        return pod if pod is not None and pod.status != "TERMINATED" else None

    async def _get_pod(self, request: Request) -> Response:
        pod = self._pod(request)
        if pod is None:
            return JSONResponse({"error": "pod not found"}, status_code=404)
        return JSONResponse(pod.as_json(self._volume_of(pod)))

    async def _list_pods(self, request: Request) -> Response:
        q = request.query_params
        pods = [p.as_json(self._volume_of(p)) for p in self.live_pods()]
        for key in ("name", "desiredStatus", "id"):
            if key in q:
                pods = [p for p in pods if p[key] == q[key]]
        return JSONResponse(pods)

    async def _stop_pod(self, request: Request) -> Response:
        pod = self._pod(request)
        if pod is None:
            return JSONResponse({"error": "pod not found"}, status_code=400)
        self._kill(pod, self.kill_grace_s)
        return Response(status_code=200)

    async def _delete_pod(self, request: Request) -> Response:
        pod = self._pod(request)
        if pod is None:
            return JSONResponse({"error": "invalid pod id"}, status_code=400)
        with self._lock:
            pod.ended = pod.ended or time.time()
            pod.status = "TERMINATED"
        self._kill(pod, 1.0)
        return Response(status_code=204)

    async def _create(self, request: Request) -> Response:
        kind = "TemplateCreateInput" if request.url.path.endswith("/templates") else "EndpointCreateInput"
        body = await request.json()
        problems = body_problems(kind, body)
        if kind == "EndpointCreateInput" and body.get("templateId") not in self.templates:
            problems.append(f"template {body.get('templateId')!r} not found")
        if problems:
            return JSONResponse({"error": "; ".join(problems)}, status_code=400)
        made = {"id": secrets.token_hex(5), **body}
        if kind == "TemplateCreateInput":
            self.templates[made["id"]] = {
                "isServerless": False,
                "env": {},
                "volumeMountPath": "/workspace",
                **made,
            }
            return JSONResponse(self.templates[made["id"]])
        made = {"idleTimeout": 5, "executionTimeoutMs": 600_000, "workersMin": 0, "workersMax": 3, **made}
        self.endpoints[made["id"]] = {"gpuCount": 1, "version": 0, "createdAt": _now_iso(), **made}
        return JSONResponse(self.endpoints[made["id"]])

    async def _get_endpoint(self, request: Request) -> Response:
        endpoint = self.endpoints.get(request.path_params["endpoint_id"])
        if endpoint is None:
            return JSONResponse({"error": "endpoint not found"}, status_code=404)
        if request.query_params.get("includeTemplate") == "true":
            endpoint = {**endpoint, "template": self.templates.get(endpoint["templateId"])}
        return JSONResponse(endpoint)

    async def _volumes(self, request: Request) -> Response:
        volume_id = request.path_params.get("volume_id")
        if volume_id is None:
            return JSONResponse(list(self.volumes.values()))
        if volume_id not in self.volumes:
            return JSONResponse({"error": "network volume not found"}, status_code=404)
        return JSONResponse(self.volumes[volume_id])

    def _serve(self) -> None:
        async def endpoints_list(request: Request) -> Response:
            return JSONResponse(list(self.endpoints.values()))

        app = Starlette(
            routes=[
                Route("/v1/pods", self._create_pod, methods=["POST"]),
                Route("/v1/pods", self._list_pods, methods=["GET"]),
                Route("/v1/pods/{pod_id}", self._get_pod, methods=["GET"]),
                Route("/v1/pods/{pod_id}", self._delete_pod, methods=["DELETE"]),
                Route("/v1/pods/{pod_id}/stop", self._stop_pod, methods=["POST"]),
                Route("/v1/templates", self._create, methods=["POST"]),
                Route("/v1/endpoints", self._create, methods=["POST"]),
                Route("/v1/endpoints", endpoints_list, methods=["GET"]),
                Route("/v1/endpoints/{endpoint_id}", self._get_endpoint, methods=["GET"]),
                Route("/v1/networkvolumes", self._volumes, methods=["GET"]),
                Route("/v1/networkvolumes/{volume_id}", self._volumes, methods=["GET"]),
            ]
        )
        fake = self

        async def guarded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            fake.requests.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope.get("query_string", b"").decode(),
                    "authorization": "<redacted>" if "authorization" in headers else None,
                    "body": json.loads(body) if body else None,
                }
            )
            answer: Response | None = None
            if headers.get("authorization") != f"Bearer {fake.api_key}":
                answer = JSONResponse({"message": "Unauthorized"}, status_code=401)
            elif fake.fail_next > 0:
                fake.fail_next -= 1
                answer = JSONResponse({"error": "service unavailable"}, status_code=503)
            if answer is not None:
                return await answer(scope, receive, send)

            async def replay() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        config = uvicorn.Config(
            guarded, log_level="warning", access_log=False, lifespan="off", loop="asyncio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: self._server.run(sockets=[sock]), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake RunPod REST API did not start")
            time.sleep(0.01)
