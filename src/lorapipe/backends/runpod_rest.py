"""A small typed client for the part of RunPod's management REST API (v1, ``https://rest.runpod.io/v1``,
OpenAPI 3.0 in ``runpod/docs`` ``api-reference/openapi.json``) that lorapipe uses: pods (create, get,
list, stop, delete), templates (create), serverless endpoints (create, get, list) and network volumes
(get, list).

Why its own client: the runpod SDK wraps the GraphQL surface; this pins one documented surface, field
for field, and the test fake (tests/support/fake_runpod_rest.py) follows the same document.

- Auth is ``Authorization: Bearer <key>``; the key is never logged nor put in an error message.
- 429, 5xx and connection errors are retried with backoff; when they persist the call raises
  :class:`CapacityError` (the caller tries again later).
- Other answers map to lorapipe errors carrying RunPod's own message: 400 -> :class:`ConfigError`,
  401/403 -> :class:`AuthError`, 404 -> :class:`NotFoundError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from lorapipe.errors import AuthError, CapacityError, ConfigError, LorapipeError, NotFoundError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)

Json = dict[str, Any]


def provider_message(response: httpx.Response) -> str:
    """RunPod's reason in an error answer (its ``error`` or ``message`` field, else the body's start)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("error", "message", "detail"):
            if isinstance(body.get(field), str) and body[field]:
                return str(body[field])[:300]
    return response.text[:300].replace("\n", " ") or response.reason_phrase


class RunpodRest:
    """One RunPod account's management API."""

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://rest.runpod.io/v1",
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_s: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        if not api_key:
            raise ConfigError("no RunPod API key", param="runpod_api_key", hint="set LORAPIPE_RUNPOD_API_KEY")
        self.base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.client = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
        self.sleep = sleep
        self.backoff_s = backoff_s

    def __repr__(self) -> str:  # never the key
        return f"RunpodRest({self.base!r})"

    # --- transport ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to one call, retried with backoff on 429/5xx and connection errors; a final
        error answer raises the matching lorapipe error."""
        what = f"{method} {path}"
        last = "no answer"
        for delay in (*self.backoff_s, None):
            try:
                response = self.client.request(method, self.base + path, headers=self._headers, **kwargs)
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code not in RETRY_STATUS:
                    return self._checked(what, response)
                last = f"HTTP {response.status_code}: {provider_message(response)}"
            if delay is None:
                break
            self.sleep(delay)
        raise CapacityError(
            f"RunPod did not answer {what}: {last}",
            hint="check the network and RunPod's status, then try again (a job retries by itself)",
        )

    def _checked(self, what: str, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        reason = provider_message(response)
        if response.status_code in (401, 403):
            raise AuthError(
                f"RunPod refused the API key ({what}): {reason}",
                hint="check LORAPIPE_RUNPOD_API_KEY (a key with read/write access to pods and endpoints)",
            )
        if response.status_code == 404:
            raise NotFoundError(f"RunPod: not found ({what}): {reason}")
        if response.status_code == 400:
            raise ConfigError(f"RunPod refused {what}: {reason}", param="runpod")
        raise LorapipeError(f"RunPod answered {what} with HTTP {response.status_code}: {reason}")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    # --- pods ---------------------------------------------------------------------------------------

    def create_pod(self, body: Json) -> Json:
        """``POST /pods`` with a ``PodCreateInput``; the new ``Pod``."""
        return dict(self._json("POST", "/pods", json=body))

    def get_pod(self, pod_id: str) -> Json:
        """``GET /pods/{podId}``; :class:`NotFoundError` when RunPod no longer knows it."""
        return dict(self._json("GET", f"/pods/{pod_id}"))

    def list_pods(self, **query: Any) -> list[Json]:
        """``GET /pods`` (filters as query parameters, e.g. ``desiredStatus="RUNNING"``)."""
        return [dict(p) for p in self._json("GET", "/pods", params=query) or []]

    def stop_pod(self, pod_id: str) -> None:
        """``POST /pods/{podId}/stop``: the container is stopped (its main process gets SIGTERM)."""
        self.request("POST", f"/pods/{pod_id}/stop")

    def delete_pod(self, pod_id: str) -> None:
        """``DELETE /pods/{podId}``: terminate the pod (billing stops; a missing pod is not an error)."""
        try:
            self.request("DELETE", f"/pods/{pod_id}")
        except NotFoundError:
            return

    # --- templates, endpoints, network volumes ------------------------------------------------------

    def create_template(self, body: Json) -> Json:
        """``POST /templates`` with a ``TemplateCreateInput``; the new ``Template``."""
        return dict(self._json("POST", "/templates", json=body))

    def create_endpoint(self, body: Json) -> Json:
        """``POST /endpoints`` with an ``EndpointCreateInput``; the new ``Endpoint``."""
        return dict(self._json("POST", "/endpoints", json=body))

    def get_endpoint(self, endpoint_id: str, *, include_template: bool = False) -> Json:
        params = {"includeTemplate": "true"} if include_template else None
        return dict(self._json("GET", f"/endpoints/{endpoint_id}", params=params))

    def list_endpoints(self) -> list[Json]:
        return [dict(e) for e in self._json("GET", "/endpoints") or []]

    def get_network_volume(self, volume_id: str) -> Json:
        return dict(self._json("GET", f"/networkvolumes/{volume_id}"))

    def list_network_volumes(self) -> list[Json]:
        return [dict(v) for v in self._json("GET", "/networkvolumes") or []]
