"""Request bodies: refused unread when the caller is not authenticated, and capped while they arrive.

A pure ASGI middleware, outside every route, so nothing downstream (FastAPI's JSON and form parsing,
a handler's own streaming) ever sees more than the limit or a byte from an unauthenticated caller.

Authentication first. A request that may carry a body (``POST``, ``PUT``, ``PATCH``, ``DELETE``, or
any request that declares one) to ``/v1/`` or ``/api/`` has its key checked here, against the
database, before the app is called: a missing, malformed, unknown or revoked key is the same 401 the
routes give, and the body is never read. Only checking the header's *shape* would not do: any string
after ``Bearer`` would still get its 200 MB parsed. Every route under those prefixes that takes a
body requires a key (the routes still check it themselves, for the user they act as); a public route
that takes a body would need its path exempted here.

Then the size. Each request gets a limit by route: the two upload routes (``POST /v1/files``,
``POST /api/datasets``) ``max_upload_bytes`` (``/v1/files`` plus room for the multipart framing),
everything else ``max_json_body_bytes``. A ``Content-Length`` over it is a 413 at once, unread; a
chunked body is counted as it arrives and the request ends in a 413 as soon as the count passes the
limit: the app's next read raises, and whatever the app answers after that is replaced by the 413.
Unread bytes are left to the server, which discards them (uvicorn does not buffer a body nobody
reads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lorapipe.api.errors import error_body
from lorapipe.errors import AuthError, LorapipeError, TooLargeError
from lorapipe.services.context import AppState

#: Multipart framing around the file of a ``/v1/files`` upload: boundaries, part headers, ``purpose``.
MULTIPART_ROOM_BYTES = 64 * 1024
AUTHENTICATED_PREFIXES = ("/v1/", "/api/")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_ROUTES = {("POST", "/v1/files"): MULTIPART_ROOM_BYTES, ("POST", "/api/datasets"): 0}

#: Raises :class:`AuthError` unless the ``Authorization`` header (None when absent) names a live key;
#: blocking (it reads the database), so it runs in a worker thread.
Authenticate = Callable[[str | None], None]


def key_check(state: AppState) -> Authenticate:
    """The routes' own check (:func:`lorapipe.services.accounts.authenticate` through the app's key
    cache, single-user mode included) on a session of its own."""

    def check(header: str | None) -> None:
        with state.sessions() as session:
            state.keys.authenticate(session, header or "", state.single_user_id)

    return check


def user_of(state: AppState) -> Callable[[str], str | None]:
    """The user a full ``Authorization`` header belongs to (None when the key is not live)."""

    def resolve(header: str) -> str | None:
        with state.sessions() as session:
            try:
                return state.keys.authenticate(session, header, None).id
            except AuthError:
                return None

    return resolve


@dataclass(frozen=True)
class BodyLimits:
    """Largest request body, in bytes: for the upload routes (the file itself) and for all others."""

    upload_bytes: int
    json_bytes: int

    def for_request(self, method: str, path: str) -> tuple[int, bool]:
        """The limit for this route and whether it is an upload route."""
        room = UPLOAD_ROUTES.get((method, path))
        if room is None:
            return self.json_bytes, False
        return self.upload_bytes + room, True


def _answer(exc: LorapipeError) -> JSONResponse:
    """The response the app's error handler would give for ``exc``."""
    message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return JSONResponse(
        error_body(exc.http_status, exc.code, message, exc.param, exc.kind), status_code=exc.http_status
    )


def _may_carry_body(method: str, headers: Headers) -> bool:
    declared = headers.get("content-length", "0").strip()
    return method in BODY_METHODS or declared not in ("", "0") or "transfer-encoding" in headers


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limits: BodyLimits, authenticate: Authenticate) -> None:
        self.app = app
        self.limits = limits
        self.authenticate = authenticate

    def _too_large(self, upload: bool) -> TooLargeError:
        if upload:
            return TooLargeError(
                f"the upload is larger than the limit of {self.limits.upload_bytes} bytes",
                param="file",
                hint="split the file, or raise LORAPIPE_MAX_UPLOAD_BYTES",
            )
        return TooLargeError(
            f"the request body is larger than the limit of {self.limits.json_bytes} bytes",
            hint="upload files through /v1/files or /api/datasets",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = Headers(scope=scope)
        if not _may_carry_body(method, headers):
            # No Content-Length, no Transfer-Encoding, not a body method: HTTP/1.1 gives it no body, so
            # there is nothing to count (most requests: the reads).
            await self.app(scope, receive, send)
            return
        if path.startswith(AUTHENTICATED_PREFIXES):
            try:
                await anyio.to_thread.run_sync(self.authenticate, headers.get("authorization"))
            except AuthError as exc:
                await _answer(exc)(scope, receive, send)
                return
        limit, upload = self.limits.for_request(method, path)
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            await _answer(self._too_large(upload))(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit, upload)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int, upload: bool) -> None:
        received = 0
        tripped = started = False

        async def counting_receive() -> Message:
            nonlocal received, tripped
            if tripped:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    tripped = True
                    raise self._too_large(upload)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if tripped and not started:
                return  # our 413 replaces whatever the app makes of the failed read
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not tripped:
                raise
        if tripped and not started:
            await _answer(self._too_large(upload))(scope, receive, send)
