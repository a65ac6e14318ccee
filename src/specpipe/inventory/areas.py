"""Inventory areas a new module reuses: database, auth, storage, UI, state, env, tests.

Each builder reads the per-file scans and returns a JSON-ready dict with sorted lists. Helpers are
"candidates": exported functions in files that touch the area, with signatures and importer counts,
so a blueprint can say "call requireUser() from src/lib/auth.ts" instead of "add auth".
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from specpipe.inventory.env_and_tests import env
from specpipe.inventory.js_scan import HTTP_METHODS
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


def _js_functions(s: Scan, path: str) -> list[Symbol]:
    return [x for x in s.js[path].exports if x.kind == "function" and x.name not in HTTP_METHODS]


def _py_public(s: Scan, path: str) -> list[Symbol]:
    return [x for x in s.py[path].functions if x.kind == "function" and not x.name.startswith("_")]


def database(s: Scan) -> dict[str, Any]:
    """DB clients (with exported helpers), tables with columns, and migration folders."""
    clients = []
    for path, js in s.js.items():
        kind = next(
            (
                k
                for imp in js.imports
                for pre, k in (
                    ("@supabase/", "supabase"),
                    ("@prisma/client", "prisma"),
                    ("drizzle-orm", "drizzle"),
                )
                if imp.startswith(pre)
            ),
            None,
        )
        fns = _js_functions(s, path)
        if kind and fns and not ROUTE_FILE.search(path):
            clients.append(
                {
                    "kind": kind,
                    "file": path,
                    "exports": [f.signature for f in fns],
                    "importers": s.importers.get(path, 0),
                    "line": fns[0].line,
                }
            )
    for path, py in s.py.items():
        if py.calls & {"create_engine", "create_async_engine", "sessionmaker", "async_sessionmaker"}:
            fns = _py_public(s, path)
            clients.append(
                {
                    "kind": "sqlalchemy",
                    "file": path,
                    "exports": [f.signature for f in fns],
                    "importers": s.importers.get(path, 0),
                    "line": fns[0].line if fns else 1,
                }
            )
    tables: dict[str, dict[str, Any]] = {}

    def add(name: str, cols: list[str], where: str) -> None:
        t = tables.setdefault(name, {"name": name, "columns": [], "defined_in": [], "used_in": []})
        for c in cols:
            if c not in t["columns"]:
                t["columns"].append(c)
        t["defined_in"].append(where)

    for path, (found, _buckets) in s.sql.items():
        for name, cols, line in found:
            add(name, cols, f"{path}:{line}")
    for path, models in s.prisma.items():
        for name, cols, line in models:
            add(name, cols, f"{path}:{line}")
    for path, py in s.py.items():
        for name, cols, line in py.tables:
            add(name, cols, f"{path}:{line}")
    for path, js in s.js.items():
        for name, _line in js.tables:
            t = tables.setdefault(name, {"name": name, "columns": [], "defined_in": [], "used_in": []})
            if path not in t["used_in"]:
                t["used_in"].append(path)
    migrations: dict[str, list[str]] = {}
    alembic = [
        p
        for p, py in s.py.items()
        if "/versions/" in p and any(v.startswith("alembic") for v in py.imports.values())
    ]
    for path in list(s.sql) + alembic:
        migrations.setdefault(str(PurePosixPath(path).parent), []).append(PurePosixPath(path).name)
    return {
        "clients": _rank(clients),
        "tables": [tables[k] for k in sorted(tables)],
        "migrations": [
            {"dir": d, "count": len(names), "naming": _naming(names)}
            for d, names in sorted(migrations.items())
        ],
    }


def _naming(names: list[str]) -> str:
    if all(re.fullmatch(r"\d{14}_\w+\.sql", n) for n in names):
        return "YYYYMMDDHHMMSS_<name>.sql"
    if all(re.fullmatch(r"\d{4}_\w+\.(sql|py)", n) for n in names):
        return "NNNN_<name>" + PurePosixPath(names[0]).suffix
    return "mixed"


def auth(s: Scan) -> dict[str, Any]:
    """Auth providers, the helper functions a module should call, and middleware files."""
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
    helpers = []
    for path, js in s.js.items():
        if ROUTE_FILE.search(path) or PurePosixPath(path).stem == "middleware":
            continue
        if js.auth_calls or "auth" in path.lower():
            helpers += [_helper(s, path, f) for f in _js_functions(s, path)]
    for path, py in s.py.items():
        if py.calls & {"OAuth2PasswordBearer", "HTTPBearer", "APIKeyHeader"}:
            providers.add("FastAPI security dependencies")
        if py.routes:
            continue
        in_auth_file = re.search(r"auth|security|deps|dependencies|permissions", path, re.I)
        helpers += [
            _helper(s, path, f, py.docstrings.get(f.name, ""))
            for f in _py_public(s, path)
            if AUTH_NAME.search(f.name) and (in_auth_file or "Depends" in f.signature)
        ]
    middleware = sorted(p for p in s.js if re.fullmatch(r"(src/)?middleware\.(ts|js)", p))
    middleware += sorted(p for p, py in s.py.items() if {"app.middleware", "app.add_middleware"} & py.calls)
    return {"providers": sorted(providers), "helpers": _rank(helpers), "middleware": middleware}


def storage(s: Scan) -> dict[str, Any]:
    """Storage providers, buckets (defined and used) and the helper functions around them."""
    providers, helpers = set(), []
    buckets: dict[str, dict[str, Any]] = {}
    for path, (_t, found) in s.sql.items():
        for name, line in found:
            buckets.setdefault(name, {"name": name, "defined_in": [], "used_in": []})["defined_in"].append(
                f"{path}:{line}"
            )
    for path, js in s.js.items():
        s3 = any(i.startswith("@aws-sdk/client-s3") for i in js.imports)
        if js.buckets:
            providers.add("Supabase Storage")
        if s3:
            providers.add("S3 (@aws-sdk/client-s3)")
        for name, _line in js.buckets:
            b = buckets.setdefault(name, {"name": name, "defined_in": [], "used_in": []})
            if path not in b["used_in"]:
                b["used_in"].append(path)
        if (js.buckets or s3) and not ROUTE_FILE.search(path):
            helpers += [_helper(s, path, f) for f in _js_functions(s, path)]
    for path, py in s.py.items():
        if any(c in py.calls for c in ("boto3.client", "boto3.resource")):
            providers.add("S3 (boto3)")
            if not py.routes:
                helpers += [_helper(s, path, f, py.docstrings.get(f.name, "")) for f in _py_public(s, path)]
        for name, _line in py.s3_buckets:
            b = buckets.setdefault(name, {"name": name, "defined_in": [], "used_in": []})
            if path not in b["used_in"]:
                b["used_in"].append(path)
    bucket_env = sorted({e["name"] for e in env(s) if "BUCKET" in e["name"]})
    return {
        "providers": sorted(providers),
        "buckets": [buckets[k] for k in sorted(buckets)],
        "bucket_env": bucket_env,
        "helpers": _rank(helpers),
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
