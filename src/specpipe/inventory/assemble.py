"""Scan a codebase and assemble the inventory report (a JSON-ready dict, deterministic).

Deterministic means: sorted files, sorted lists, repo-relative paths, no timestamps and no
absolute paths, so the same tree always gives the same bytes and a golden test can pin it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from specpipe.inventory import areas, env_and_tests
from specpipe.inventory.files import SourceFile, walk
from specpipe.inventory.js_scan import JS_SUFFIXES, JsFile, http_handlers, scan_js
from specpipe.inventory.manifests import all_dependencies, parse_manifest
from specpipe.inventory.py_scan import PyFile, scan_py
from specpipe.inventory.sql_scan import scan_prisma, scan_sql

INVENTORY_VERSION = 1
LANGUAGES = {
    ".ts": "typescript",
    ".tsx": "typescript",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".py": "python",
    ".sql": "sql",
    ".prisma": "prisma",
}
FRAMEWORKS = {
    "next": "Next.js",
    "react": "React",
    "vue": "Vue",
    "nuxt": "Nuxt",
    "@sveltejs/kit": "SvelteKit",
    "express": "Express",
    "fastify": "Fastify",
    "@nestjs/core": "NestJS",
    "hono": "Hono",
    "fastapi": "FastAPI",
    "django": "Django",
    "flask": "Flask",
    "starlette": "Starlette",
}
NEXT_APP_FILE = re.compile(r"^(?:src/)?app/(?:(.*)/)?(page|route)\.(?:ts|tsx|js|jsx)$")
NEXT_PAGES_FILE = re.compile(r"^(?:src/)?pages/(.*)\.(?:ts|tsx|js|jsx)$")
JS_RESOLVE = ("", ".ts", ".tsx", ".js", ".jsx", "/index.ts", "/index.tsx", "/index.js", "/index.jsx")


class Scan:
    """Per-file scan results shared by the area builders."""

    def __init__(self, root: Path) -> None:
        self.files = walk(root)
        self.by_path = {f.path: f for f in self.files}
        self.manifests = [m for f in self.files if (m := parse_manifest(f))]
        self.deps = all_dependencies(self.manifests)
        self.js: dict[str, JsFile] = {f.path: scan_js(f) for f in self.files if f.suffix in JS_SUFFIXES}
        self.py: dict[str, PyFile] = {
            f.path: p for f in self.files if f.suffix == ".py" and (p := scan_py(f))
        }
        self.sql = {f.path: scan_sql(f) for f in self.files if f.suffix == ".sql"}
        self.prisma = {f.path: scan_prisma(f) for f in self.files if f.suffix == ".prisma"}
        self.importers = self._importers()

    def _aliases(self) -> dict[str, str]:
        """tsconfig ``paths`` aliases (``@/`` -> ``src/``); defaults to the Next.js convention."""
        default = {"@/": "src/" if any(p.startswith("src/") for p in self.by_path) else ""}
        f = self.by_path.get("tsconfig.json") or self.by_path.get("jsconfig.json")
        if f is None:
            return default
        try:
            cfg = json.loads(re.sub(r"^\s*//.*$", "", f.text, flags=re.MULTILINE))
            paths = cfg.get("compilerOptions", {}).get("paths", {})
        except (ValueError, AttributeError):
            return default
        out = {}
        for alias, targets in paths.items():
            if alias.endswith("*") and targets:
                out[alias[:-1]] = posixpath.normpath(targets[0].rstrip("*").removeprefix("./")) + "/"
        return {k: ("" if v == "./" else v) for k, v in out.items()} or default

    def _importers(self) -> dict[str, int]:
        """How many other files import each file (the ranking signal, as in a repo map)."""
        aliases = self._aliases()
        modules = {p.module: path for path, p in self.py.items()}
        edges: set[tuple[str, str]] = set()
        for path, js in self.js.items():
            for spec in js.imports:
                base = None
                if spec.startswith("."):
                    base = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
                else:
                    base = next((t + spec[len(a) :] for a, t in aliases.items() if spec.startswith(a)), None)
                if base is not None:
                    hit = next((base + ext for ext in JS_RESOLVE if base + ext in self.by_path), None)
                    if hit and hit != path:
                        edges.add((path, hit))
        for path, py in self.py.items():
            for target in py.imports.values():
                parts = target.split(".")
                for k in (len(parts), len(parts) - 1):
                    hit = modules.get(".".join(parts[:k]))
                    if hit:
                        if hit != path:
                            edges.add((path, hit))
                        break
        return dict(Counter(dst for _src, dst in edges))


def scan_codebase(root: Path) -> dict[str, Any]:
    """The inventory of ``root`` as a JSON-ready dict."""
    s = Scan(root)
    langs = Counter(LANGUAGES[f.suffix] for f in s.files if f.suffix in LANGUAGES)
    return {
        "inventory_version": INVENTORY_VERSION,
        "codebase": root.resolve().name,
        "file_count": len(s.files),
        "languages": dict(sorted(langs.items())),
        "manifests": s.manifests,
        "frameworks": frameworks(s),
        "routes": routes(s),
        "database": areas.database(s),
        "auth": areas.auth(s),
        "storage": areas.storage(s),
        "ui": areas.ui(s),
        "state": areas.state(s),
        "env": env_and_tests.env(s),
        "tests": env_and_tests.tests(s),
        "most_imported": [
            {"file": f, "importers": n}
            for f, n in sorted(s.importers.items(), key=lambda x: (-x[1], x[0]))[:15]
        ],
    }


def frameworks(s: Scan) -> list[dict[str, Any]]:
    """Known frameworks among the dependencies; Next.js gets its router kind."""
    out = []
    for dep, label in FRAMEWORKS.items():
        if dep not in s.deps:
            continue
        entry: dict[str, Any] = {"name": label, "package": dep, "version": s.deps[dep]}
        if dep == "next":
            routers = []
            if any(NEXT_APP_FILE.match(p) for p in s.by_path):
                routers.append("app")
            if any(NEXT_PAGES_FILE.match(p) for p in s.by_path):
                routers.append("pages")
            entry["router"] = "+".join(routers) or "unknown"
        out.append(entry)
    return out


def _next_url(segments: str | None) -> str:
    """Folder path under app/ -> URL: route groups ``(x)`` and parallel slots ``@x`` vanish."""
    parts = [p for p in (segments or "").split("/") if p and not p.startswith(("(", "@"))]
    return "/" + "/".join(parts)


def routes(s: Scan) -> list[dict[str, Any]]:
    """API routes and pages with methods, from Next.js files, Express calls and Python decorators."""
    out: list[dict[str, Any]] = []
    for path, js in s.js.items():
        if m := NEXT_APP_FILE.match(path):
            url = _next_url(m.group(1))
            if m.group(2) == "page":
                out.append(
                    {"method": "PAGE", "path": url, "file": path, "line": 1, "handler": "", "kind": "page"}
                )
            for h in http_handlers(js):
                out.append(
                    {
                        "method": h.name,
                        "path": url,
                        "file": path,
                        "line": h.line,
                        "handler": h.name,
                        "kind": "api",
                    }
                )
        elif (m := NEXT_PAGES_FILE.match(path)) and "next" in s.deps:
            name = PurePosixPath(m.group(1))
            if name.name.startswith("_"):
                continue
            url = "/" + str(name.parent / ("" if name.name == "index" else name.name)).strip("./")
            kind = "api" if url.startswith("/api") else "page"
            out.append(
                {
                    "method": "ANY" if kind == "api" else "PAGE",
                    "path": url.rstrip("/") or "/",
                    "file": path,
                    "line": 1,
                    "handler": "",
                    "kind": kind,
                }
            )
        for method, url, line in js.express_routes:
            out.append(
                {"method": method, "path": url, "file": path, "line": line, "handler": "", "kind": "api"}
            )
    include_prefix: dict[tuple[str, str], str] = {}
    for py in s.py.values():
        for expr, prefix in py.includes:
            head, _, var = expr.rpartition(".")
            target = py.imports.get(head, "") if head else py.imports.get(var, "").rpartition(".")[0]
            if not head:
                var = expr
            include_prefix.setdefault((target or py.module, var), prefix)
    for path, py in s.py.items():
        for r in py.routes:
            full = (
                include_prefix.get((py.module, r.router), "") + py.router_prefixes.get(r.router, "") + r.path
            )
            out.append(
                {
                    "method": r.method,
                    "path": re.sub(r"/{2,}", "/", full),
                    "file": path,
                    "line": r.line,
                    "handler": r.handler,
                    "kind": "api",
                }
            )
    return sorted(out, key=lambda r: (r["path"], r["method"], r["file"]))


def source(s: Scan, path: str) -> SourceFile:
    """The scanned file at ``path``."""
    return s.by_path[path]
