"""Who is looking at a page. The browser keeps its API key in ``localStorage`` (for ``fetch``) and in
a ``SameSite=Strict`` cookie (for page loads); the cookie's key is checked by the API's own bearer
dependency, so pages and API accept exactly the same keys (and the same single-user mode)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from lorapipe.api.deps import AppState, current_user
from lorapipe.errors import AuthError
from lorapipe.jobs.accounts import User

COOKIE = "lorapipe_key"


class LoginRequired(Exception):
    """Raised by a page when the browser has no valid key; answered with a redirect to the login page."""


def page_user(request: Request) -> User:
    """The user whose key the browser's cookie holds; :class:`LoginRequired` when none is valid."""
    state: AppState = request.app.state.lorapipe
    scope = request.scope
    key = request.cookies.get(COOKIE, "").strip()
    if key:
        try:
            bearer = f"Bearer {key}".encode("latin-1")
        except UnicodeEncodeError:
            raise LoginRequired from None
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
        scope = {**scope, "headers": [*headers, (b"authorization", bearer)]}
    with state.sessions() as session:
        try:
            return current_user(Request(scope), state, session)
        except AuthError:
            raise LoginRequired from None


async def login_redirect(request: Request, _: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)
