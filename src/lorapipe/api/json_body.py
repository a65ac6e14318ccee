"""JSON request bodies checked once, before any route parses them: nesting at most
:data:`MAX_DEPTH` deep (Python's parser raises ``RecursionError`` on a body nested thousands deep)
and no NUL character in any string or key (PostgreSQL text cannot store NUL). Either is a 400
naming the place (``param``: ``body`` or the dotted path of the string), never a 500.

A pure ASGI middleware inside :mod:`lorapipe.api.body_limit`, so the body it reads is already
authenticated and capped at ``max_json_body_bytes``; it then hands the same bytes to the app. The two
upload routes are not read here: their body is a file, streamed to the store.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lorapipe.api.body_limit import AUTHENTICATED_PREFIXES, BODY_METHODS, UPLOAD_ROUTES
from lorapipe.api.errors import error_body

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have; no request of ours needs 10."""


class JsonProblem(Exception):
    def __init__(self, code: str, message: str, param: str) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def _is_json(headers: Headers) -> bool:
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json") or not kind


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "body"


def check_json(body: bytes) -> None:
    """Raise :class:`JsonProblem` when ``body`` nests too deep or holds a NUL; a body that is not
    JSON at all passes (the route answers its own ``json_invalid``)."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise JsonProblem(
            "invalid_json", f"the JSON body is nested deeper than {MAX_DEPTH} levels", "body"
        ) from None
    except ValueError:
        return
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if len(path) > MAX_DEPTH:
            raise JsonProblem(
                "invalid_json", f"the JSON body is nested deeper than {MAX_DEPTH} levels", "body"
            )
        if isinstance(node, str):
            if "\x00" in node:
                raise JsonProblem(
                    "invalid_request", "text may not contain the NUL character (\\u0000)", _dotted(path)
                )
        elif isinstance(node, dict):
            for key, item in node.items():
                if "\x00" in key:
                    raise JsonProblem(
                        "invalid_request", "a key may not contain the NUL character (\\u0000)", _dotted(path)
                    )
                stack.append(((*path, key), item))
        elif isinstance(node, list):
            stack.extend(((*path, i), item) for i, item in enumerate(node))


class JsonBodyCheckMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope.get("method", ""), scope.get("path", "")
        if (
            scope["type"] != "http"
            or method not in BODY_METHODS
            or not path.startswith(AUTHENTICATED_PREFIXES)
            or (method, path) in UPLOAD_ROUTES
            or not _is_json(Headers(scope=scope))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check_json(body)
        except JsonProblem as problem:
            answer = error_body(400, problem.code, problem.message, problem.param, "user")
            await JSONResponse(answer, status_code=400)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
