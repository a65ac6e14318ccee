"""Inventory areas a new module reuses: database, auth, storage, UI, state, env, tests.

Each builder reads the per-file scans and returns a JSON-ready dict with sorted lists. Helpers and
clients are recognised by behaviour (roles.py) and carry evidence, importer counts and a
confidence, so a blueprint can say "call requireUser() from src/lib/auth.ts" instead of "add auth".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from specpipe.inventory import migrations
from specpipe.inventory.db_clients import db_clients
from specpipe.inventory.env_and_tests import env
from specpipe.inventory.roles import Roles
from specpipe.inventory.symbols import Symbol

if TYPE_CHECKING:
    from specpipe.inventory.assemble import Scan

AUTH_NAME = re.compile(
    r"current_?user|require|auth|login|permission|verify|session|get_?user|guard|protect", re.I
)
ROUTE_FILE = re.compile(r"(^|/)(route|page|layout)\.(ts|tsx|js|jsx)$|(^|/)pages/")
UI_LIBS = {
    "@mui/material": "MUI",
    "@chakra-ui/react": "Chakra UI",
    "antd": "Ant Design",
    "tailwindcss": "Tailwind CSS",
    "lucide-react": "lucide-react",
    "@headlessui/react": "Headless UI",
    "styled-components": "styled-components",
    "@emotion/react": "Emotion",
    "class-variance-authority": "class-variance-authority",
    "jinja2": "Jinja2",
}
STATE_LIBS = {
    "@tanstack/react-query": "TanStack Query",
    "react-query": "React Query",
    "swr": "SWR",
    "zustand": "Zustand",
    "@reduxjs/toolkit": "Redux Toolkit",
    "redux": "Redux",
    "jotai": "Jotai",
    "recoil": "Recoil",
    "mobx": "MobX",
    "@apollo/client": "Apollo Client",
    "@trpc/client": "tRPC",
    "pinia": "Pinia",
}


def _helper(s: Scan, path: str, sym: Symbol, doc: str = "") -> dict[str, Any]:
    return {
        "name": sym.name,
        "file": path,
        "line": sym.line,
        "signature": sym.signature,
        "doc": doc,
        "importers": s.importers.get(path, 0),
    }


def _rank(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda h: (-h.get("importers", 0), h["file"], h["line"]))


def database(s: Scan) -> dict[str, Any]:
    """DB client modules (by importers), tables with columns, and the migration folders tools use."""
    folders, migration_files = migrations.migrations(s)
    tables, used_only, outside = migrations.tables(s, migration_files)
    return {
        "clients": db_clients(s),
        "tables": tables,
        "tables_used_not_created": used_only,
        "migrations": folders,
        "sql_outside_migrations": outside,
    }


def auth(s: Scan, roles: Roles) -> dict[str, Any]:
    """Auth providers, the helpers that read the session or guard a route, and middleware files."""
    providers = set()
    if any(js.auth_calls for js in s.js.values()) and any(d.startswith("@supabase/") for d in s.deps):
        providers.add("Supabase Auth")
    for dep, label in (
        ("next-auth", "NextAuth"),
        ("@clerk/nextjs", "Clerk"),
        ("python-jose", "JWT (python-jose)"),
        ("pyjwt", "JWT (PyJWT)"),
        ("flask-login", "Flask-Login"),
        ("django", "Django auth"),
    ):
        if dep in s.deps:
            providers.add(label)
    for py in s.py.values():
        if py.calls & {"OAuth2PasswordBearer", "HTTPBearer", "APIKeyHeader"}:
            providers.add("FastAPI security dependencies")
    middleware = sorted(p for p in s.js if re.fullmatch(r"(src/)?middleware\.(ts|js)", p))
    middleware += sorted(p for p, py in s.py.items() if {"app.middleware", "app.add_middleware"} & py.calls)
    return {
        "providers": sorted(providers),
        "helpers": roles.helpers(roles.auth_units, "auth"),
        "middleware": middleware,
    }


def storage(s: Scan, roles: Roles) -> dict[str, Any]:
    """Storage providers, buckets (defined and used) and the helpers that call the storage API."""
    providers = set()
    buckets: dict[str, dict[str, Any]] = {}
    for path, sql in s.sql.items():
        for name, line in sql.buckets:
            buckets.setdefault(name, {"name": name, "defined_in": [], "used_in": []})["defined_in"].append(
                f"{path}:{line}"
            )
    for path, js in s.js.items():
        if js.buckets:
            providers.add("Supabase Storage")
        if any(i.startswith("@aws-sdk/client-s3") for i in js.imports):
            providers.add("S3 (@aws-sdk/client-s3)")
        for name, _line in js.buckets:
            b = buckets.setdefault(name, {"name": name, "defined_in": [], "used_in": []})
            if path not in b["used_in"]:
                b["used_in"].append(path)
    for path, py in s.py.items():
        if any(c in py.calls for c in ("boto3.client", "boto3.resource")):
            providers.add("S3 (boto3)")
        for name, _line in py.s3_buckets:
            b = buckets.setdefault(name, {"name": name, "defined_in": [], "used_in": []})
            if path not in b["used_in"]:
                b["used_in"].append(path)
    bucket_env = sorted({e["name"] for e in env(s) if "BUCKET" in e["name"]})
    return {
        "providers": sorted(providers),
        "buckets": [buckets[k] for k in sorted(buckets)],
        "bucket_env": bucket_env,
        "helpers": roles.helpers(roles.storage_units, "storage"),
    }


def ui(s: Scan) -> dict[str, Any]:
    """UI libraries and the components a module should reuse (PascalCase exports under components/)."""
    libs = {label for dep, label in UI_LIBS.items() if dep in s.deps}
    if any(d.startswith("@radix-ui/") for d in s.deps):
        libs.add("Radix UI")
    if "components.json" in s.by_path or any("components/ui/" in p for p in s.js):
        libs.add("shadcn/ui")
    components = []
    for path, js in s.js.items():
        if "components/" in path and path.endswith((".tsx", ".jsx")):
            components += [
                _helper(s, path, x) | {"kit": "components/ui/" in path}
                for x in js.exports
                if x.name[:1].isupper() and x.kind in ("function", "const", "class")
            ]
    layouts = sorted(p for p in s.js if re.search(r"(^|/)layout\.(tsx|jsx)$", p))
    return {"libraries": sorted(libs), "components": _rank(components), "layouts": layouts}


def state(s: Scan) -> dict[str, Any]:
    """State and data-fetching libraries and the exported ``use*`` hooks."""
    hooks = [
        _helper(s, path, x)
        for path, js in s.js.items()
        for x in js.exports
        if re.fullmatch(r"use[A-Z]\w*", x.name)
    ]
    return {
        "libraries": sorted(label for dep, label in STATE_LIBS.items() if dep in s.deps),
        "hooks": _rank(hooks),
    }
