"""The dashboard's browser-side defences: where the login page may send the browser next, and the
security headers on every ``/ui`` response."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HOME = "/ui/"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        # Pages load only their own static files; no inline script or style anywhere in the templates.
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def safe_next(target: str) -> str:
    """``target`` when it is a path on this site, else :data:`HOME`.

    Browsers read a backslash as a slash and drop tabs and newlines, so ``/\\evil.example`` and
    ``/\\t/evil.example`` would leave the site like ``//evil.example``: any of these characters refuses.
    """
    if not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return HOME
    return target


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` to responses under ``prefix`` (streamed ones too)."""

    def __init__(self, app: ASGIApp, prefix: str = "/ui") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/" or path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
