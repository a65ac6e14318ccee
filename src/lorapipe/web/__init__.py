"""The web dashboard: server-rendered pages (Jinja2) under ``/ui`` with plain CSS and JS, no build step.

Pages only read; every change (upload, rename, delete, cancel) is a ``fetch`` to the ``/api`` routes
with the API key as a bearer header, so the cookie that identifies the browser to the pages can never
authorise a write (no cross-site request forgery surface).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lorapipe.web.adapter_pages import router as adapter_router
from lorapipe.web.auth import LoginRequired, login_redirect
from lorapipe.web.cost_pages import router as cost_router
from lorapipe.web.error_pages import install_page_errors
from lorapipe.web.launch import router as launch_router
from lorapipe.web.notification_pages import router as notification_router
from lorapipe.web.pages import router
from lorapipe.web.playground import router as playground_router
from lorapipe.web.security import SecurityHeaders
from lorapipe.web.settings_pages import router as settings_router


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard pages, their static files, the login redirect and the security headers to
    ``app``."""
    static = resources.files("lorapipe.web") / "static"
    app.mount("/ui/static", StaticFiles(directory=str(static)), name="ui-static")
    app.include_router(launch_router)  # before pages: /ui/jobs/new is not a job id
    app.include_router(router)
    for pages in (adapter_router, playground_router, cost_router, notification_router, settings_router):
        app.include_router(pages)
    app.add_exception_handler(LoginRequired, login_redirect)
    install_page_errors(app)  # after the API's handlers, which it wraps
    app.add_middleware(SecurityHeaders)
