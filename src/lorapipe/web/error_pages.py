"""Errors under ``/ui`` as styled pages: the API's handlers answer JSON (right for ``/v1`` and ``/api``),
but a browser that follows a stale link, a hand-edited address or a missing object gets the site's
Not-found page or a "that address is not valid" page, never a JSON body.

The API's handlers stay in charge of every other path: :func:`install_page_errors` wraps the handlers
already installed on the app and calls them for anything outside ``/ui``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lorapipe.db.accounts import User
from lorapipe.errors import AuthError, LorapipeError
from lorapipe.services.accounts import authenticate
from lorapipe.services.context import AppState
from lorapipe.web.auth import COOKIE
from lorapipe.web.pages import templates

PREFIX = "/ui"
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def is_page(request: Request) -> bool:
    """A dashboard page (not its static files: a missing script stays a plain 404 for the browser)."""
    path = request.url.path
    return (path == PREFIX or path.startswith(PREFIX + "/")) and not path.startswith(PREFIX + "/static/")


def _viewer(request: Request) -> User | None:
    """The signed-in user when the browser's cookie holds a valid key, so the error page keeps the
    navigation; None otherwise (the page still renders, without it)."""
    state: AppState = request.app.state.lorapipe
    key = request.cookies.get(COOKIE, "").strip()
    with state.sessions() as session:
        try:
            return authenticate(session, f"Bearer {key}" if key else "", state.single_user_id)
        except AuthError:
            return None


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    name = "not_found.html" if status == 404 else "error.html"
    context = {"user": _viewer(request), "message": message, "title": title, "status": status}
    page = templates.TemplateResponse(request, name, context)
    page.status_code = status
    return page


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "address"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts) or "the address is not valid"


def install_page_errors(app: FastAPI) -> None:
    """Answer errors of ``/ui`` pages with styled pages; everything else keeps the app's handlers
    (install after them)."""
    handlers = app.exception_handlers

    def wrap(kind: type[Exception], page: Callable[[Request, Exception], Response]) -> None:
        fallback: Handler | None = handlers.get(kind)

        async def handle(request: Request, exc: Exception) -> Response:
            if is_page(request):
                return page(request, exc)
            if fallback is None:
                raise exc
            answer = fallback(request, exc)
            return await answer if isinstance(answer, Awaitable) else answer

        app.add_exception_handler(kind, handle)

    def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, "Not found", "There is no page at this address.")
        return error_page(request, exc.status_code, "Something went wrong", str(exc.detail))

    def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message = "This address has a value the page cannot use: " + _validation_message(exc)
        return error_page(request, 400, "Not a valid address", message)

    def ours(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LorapipeError)
        title = "Not found" if exc.http_status == 404 else "Something went wrong"
        return error_page(request, exc.http_status, title, exc.message)

    wrap(HTTPException, http)
    wrap(RequestValidationError, invalid)
    wrap(LorapipeError, ours)
