"""How the CLI reaches the job service: over HTTP to a configured one, or to an embedded one.

With ``LORAPIPE_API_URL`` (and ``LORAPIPE_API_KEY``) set, commands talk to that service. Otherwise
:func:`connect` starts the service in this process: the same app factory ``lorapipe serve`` uses
(API + reconciler + outbox), in single-user mode on a free loopback port, stopped when the command
ends. Either way every command takes the one real path: HTTP -> API -> database -> reconciler.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from lorapipe.settings import Settings, get_settings

START_TIMEOUT_S = 120.0
"""How long an embedded service may take to migrate the database and start listening."""
LOCAL_USER = "local"


class ApiError(Exception):
    """An error object answered by the service (``{code, message, param, kind}``) or no answer at all."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ApiClient:
    """Thin synchronous client of the lorapipe API (``/v1`` and ``/api``)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, embedded: bool = False) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.embedded = embedded
        # Uploads and zips can be large and slow: no overall timeout on reads, a bound on connecting.
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(120.0, connect=10.0)
        )

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of one request; an error status raises :class:`ApiError`."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(0, "service_unreachable", f"{self.base_url}: {exc}") from None
        _raise_for_error(response)
        return response.json()

    def upload_file(self, path: Path) -> dict[str, Any]:
        """``POST /v1/files`` (purpose fine-tune): stored and validated by the service."""
        with path.open("rb") as handle:
            return dict(
                self.call(
                    "POST", "/v1/files", files={"file": (path.name, handle)}, data={"purpose": "fine-tune"}
                )
            )

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/v1/fine_tuning/jobs", json=body))

    def job(self, job_id: str) -> dict[str, Any]:
        """The native job object with its latest ``progress``."""
        return dict(self.call("GET", f"/api/jobs/{job_id}"))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/jobs/{job_id}/cancel"))

    def events(self, job_id: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """The job's events after sequence ``after`` as they happen (server-sent events), until the
        job ends; a dropped connection is resumed where it stopped."""
        while True:
            try:
                with self.http.stream(
                    "GET",
                    f"/api/jobs/{job_id}/stream",
                    headers={"Last-Event-ID": str(after)},
                    timeout=httpx.Timeout(60.0, connect=10.0),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        _raise_for_error(response)
                    for name, data in _sse_messages(response.iter_lines()):
                        if name == "end":
                            return
                        after = int(data.get("seq", after))
                        yield data
                    return
            except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
                time.sleep(1.0)  # the stream sends a keep-alive every 15 s; silence means a lost link
            except httpx.TransportError as exc:
                raise ApiError(0, "service_unreachable", f"{self.base_url}: {exc}") from None

    def adapters(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/adapters", params={"limit": limit})["data"])

    def adapter(self, adapter_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/adapters/{adapter_id}"))

    def adapter_for_job(self, job_id: str) -> dict[str, Any]:
        """The adapter a succeeded job produced."""
        offset = 0
        while True:
            page = self.call("GET", "/api/adapters", params={"limit": 100, "offset": offset})
            for row in page["data"]:
                if row["job_id"] == job_id:
                    return self.adapter(row["id"])
            if not page["data"] or len(page["data"]) < 100:
                raise ApiError(404, "not_found", f"job {job_id} has no adapter")
            offset += 100

    def download(self, path: str, dest: Path) -> int:
        """Stream ``path`` to the file ``dest`` (written whole or not at all); its size in bytes."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        size = 0
        try:
            with self.http.stream("GET", path, timeout=httpx.Timeout(120.0, connect=10.0)) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_error(response)
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes(1024 * 1024):
                        size += handle.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ApiError(0, "service_unreachable", f"{self.base_url}: {exc}") from None
        partial.replace(dest)
        return size


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        raise ApiError(response.status_code, str(error["code"]), str(error["message"]), error.get("param"))
    except (ValueError, KeyError, TypeError):
        raise ApiError(
            response.status_code, "http_error", response.text[:500] or response.reason_phrase
        ) from None


def _sse_messages(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event name, JSON data)`` of each server-sent message; comments and retry lines skipped."""
    name, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield name, json.loads(data)
            name, data = "message", ""
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_service(settings: Settings, *, reconciler_interval_s: float = 0.5) -> Iterator[str]:
    """Run ``lorapipe serve --single-user`` inside this process (a thread) on a free loopback port;
    yields its base URL. Leaving the block stops the API, the reconciler and the outbox worker."""
    import uvicorn

    from lorapipe.server import create_app

    app = create_app(settings, single_user=LOCAL_USER, reconciler_interval_s=reconciler_interval_s)
    port = free_loopback_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    # uvicorn installs no signal handlers outside the main thread, so Ctrl-C stays with the CLI.
    thread = threading.Thread(target=server.run, name="embedded-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ApiError(
                0, "service_unreachable", "the embedded service did not start (see messages above)"
            )
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def connect(settings: Settings | None = None) -> Iterator[ApiClient]:
    """A client of the configured service (``LORAPIPE_API_URL``), else of an embedded one."""
    settings = settings or get_settings()
    if settings.api_url:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        client = ApiClient(settings.api_url, key)
        try:
            yield client
        finally:
            client.close()
        return
    with embedded_service(settings) as base:
        client = ApiClient(base, embedded=True)
        try:
            yield client
        finally:
            client.close()
