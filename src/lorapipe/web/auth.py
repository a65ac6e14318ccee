"""Who is looking at a page. The browser keeps its API key in ``localStorage`` (for ``fetch``) and in
a ``SameSite=Strict`` cookie (for page loads); the cookie's key is checked by the same
:func:`~lorapipe.services.accounts.authenticate` as the API's bearer header, so pages and API accept
exactly the same keys (and the same single-user mode)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from lorapipe.db.accounts import User
from lorapipe.errors import AuthError
from lorapipe.services.accounts import authenticate
from lorapipe.services.context import AppState

COOKIE = "lorapipe_key"


class LoginRequired(Exception):
    """Raised by a page when the browser has no valid key; answered with a redirect to the login page."""


def page_user(request: Request) -> User:
    """The user whose key the browser's cookie holds; :class:`LoginRequired` when none is valid."""
    state: AppState = request.app.state.lorapipe
    key = request.cookies.get(COOKIE, "").strip()
    with state.sessions() as session:
        try:
            return authenticate(session, f"Bearer {key}" if key else "", state.single_user_id)
        except AuthError:
            raise LoginRequired from None


async def login_redirect(request: Request, _: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)
