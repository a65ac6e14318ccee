"""The dashboard's defences: the login page sends the browser only to same-site relative paths, and
every ``/ui`` response carries the security headers (CSP without inline script, no framing, nosniff,
referrer policy)."""

from __future__ import annotations

import pytest
from native_app import Native

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example",
        "/\tevil.example",
        "/\t/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "ui/jobs",
    ],
)
def test_login_never_redirects_off_site(native_sqlite: Native, target: str) -> None:
    page = native_sqlite.client.get("/ui/login", params={"next": target}).text
    assert 'data-next="/ui/"' in page


def test_login_keeps_a_local_path(native_sqlite: Native) -> None:
    page = native_sqlite.client.get("/ui/login", params={"next": "/ui/jobs?page=2"}).text
    assert 'data-next="/ui/jobs?page=2"' in page


@pytest.mark.parametrize("path", ["/ui/login", "/ui/static/app.js", "/ui/datasets"])
def test_ui_responses_carry_security_headers(native_sqlite: Native, path: str) -> None:
    r = native_sqlite.client.get(path, follow_redirects=False)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
