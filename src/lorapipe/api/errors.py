"""Errors as OpenAI's error object: ``{"error": {message, type, param, code}}`` plus our ``kind``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from lorapipe.errors import LorapipeError

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    409: "conflict",
}


def error_body(status: int, code: str, message: str, param: str | None, kind: str) -> dict[str, object]:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code,
            "kind": kind,
        }
    }


def _validation_failed(errors: Sequence[Any], skip: int) -> JSONResponse:
    """A 400 whose ``param`` is the first failing field (dotted), whose message lists every failure."""
    first = errors[0] if errors else {}
    param = ".".join(str(p) for p in first.get("loc", ())[skip:]) or None
    problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors)
    return JSONResponse(error_body(400, "invalid_request", problems, param, "user"), status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LorapipeError)
    async def _ours(_: Request, exc: LorapipeError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("request failed: %s", exc)
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        body = error_body(exc.http_status, exc.code, message, exc.param, exc.kind)
        retry = getattr(exc, "retry_after_s", None)
        headers = {"Retry-After": str(retry)} if isinstance(retry, int) else None
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @app.exception_handler(PoolTimeoutError)
    async def _busy(_: Request, exc: PoolTimeoutError) -> JSONResponse:
        log.warning("no database connection free: %s", type(exc).__name__)
        body = error_body(503, "service_busy", "the service is busy; retry shortly", None, "capacity")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_failed(exc.errors(), skip=1)  # loc[0] is where: path, query, body...

    @app.exception_handler(ValidationError)
    async def _invalid_inside(_: Request, exc: ValidationError) -> JSONResponse:
        # A service validating user input with pydantic itself: still the caller's mistake.
        return _validation_failed(exc.errors(), skip=0)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            error_body(exc.status_code, code, str(exc.detail), None, "user"),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body(500, "internal_error", "internal server error", None, "system"), status_code=500
        )
