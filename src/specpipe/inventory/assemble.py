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
from specpipe.inventory.app_root import choose_app
from specpipe.inventory.files import SourceFile, walk
from specpipe.inventory.js_scan import JS_SUFFIXES, JsFile, http_handlers, scan_js
from specpipe.inventory.manifests import all_dependencies, parse_manifest
from specpipe.inventory.py_scan import PyFile, scan_py
from specpipe.inventory.roles import Roles
from specpipe.inventory.sql_scan import scan_prisma, scan_sql
from specpipe.inventory.symbols import Symbol

INVENTORY_VERSION = 2
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
# Tests and migrations define public names nobody imports; they are not part of the export map.
NOT_IMPORTED = re.compile(
    r"(^|/)(tests?|__tests__|e2e)/|\.(test|spec)\.\w+$|(^|/)test_\w+\.py$|(^|/)(versions|migrations)/"
)
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
        self.py_modules = {p.module: path for path, p in self.py.items()}
        self.sql = {f.path: scan_sql(f) for f in self.files if f.suffix == ".sql"}
        self.prisma = {f.path: scan_prisma(f) for f in self.files if f.suffix == ".prisma"}
        self.aliases = self._aliases()
        self.importers = self._importers()
        self.name_importers = self._name_importers()
        self._expand_star_exports()

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

    def resolve(self, path: str, spec: str) -> str | None:
        """The file a JS/TS import specifier in ``path`` points to, when it is in the codebase."""
        if spec.startswith("."):
            base = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
        else:
            base = next((t + spec[len(a) :] for a, t in self.aliases.items() if spec.startswith(a)), "")
            if not base:
                return None
        hit = next((base + ext for ext in JS_RESOLVE if base + ext in self.by_path), None)
        return hit if hit != path else None

    def py_module_file(self, module: str) -> str | None:
        """The file of a dotted Python module name, when it is in the codebase."""
        return self.py_modules.get(module)

    def _importers(self) -> dict[str, int]:
        """How many other files import each file (the ranking signal, as in a repo map)."""
        edges: set[tuple[str, str]] = set()
        for path, js in self.js.items():
            for spec in js.imports:
                hit = self.resolve(path, spec)
                if hit:
                    edges.add((path, hit))
        for path, py in self.py.items():
            for target in py.imports.values():
                parts = target.split(".")
                for k in (len(parts), len(parts) - 1):
                    hit = self.py_modules.get(".".join(parts[:k]))
                    if hit:
                        if hit != path:
                            edges.add((path, hit))
                        break
        return dict(Counter(dst for _src, dst in edges))

    def _name_importers(self) -> Counter[tuple[str, str]]:
        """How many files import each (file, exported name): which helper the app really calls."""
        pairs: set[tuple[str, str, str]] = set()
        for path, js in self.js.items():
            for spec, imported in js.bindings.values():
                target = self.resolve(path, spec)
                if target and target in self.js and imported != "*":
                    if imported == "default":
                        imported = next((x.name for x in self.js[target].exports if x.default), "default")
                    pairs.add((path, target, imported))
        for path, py in self.py.items():
            for target in py.imports.values():
                module, _, name = target.rpartition(".")
                hit = self.py_modules.get(module)
                if hit and hit != path:
                    pairs.add((path, hit, name))
        return Counter((target, name) for _src, target, name in pairs)

    def _expand_star_exports(self) -> None:
        """``export * from './x'``: the file re-exports every name ``x`` exports (transitively)."""

        def names(path: str, seen: frozenset[str]) -> list[Symbol]:
            js = self.js[path]
            out = [x for x in js.exports]
            for spec in js.star_sources:
                target = self.resolve(path, spec)
                if target and target in self.js and target not in seen:
                    out += [
                        Symbol(x.name, "reexport", x.line, x.name, source=spec)
                        for x in names(target, seen | {target})
                        if not x.default
                    ]
            return out

        for path, js in self.js.items():
            if js.star_sources:
                have = {x.name for x in js.exports}
                extra = [x for x in names(path, frozenset({path})) if x.name not in have]
                line = next((x.line for x in js.exports), 1)
                unique = {x.name: Symbol(x.name, "reexport", line, x.name, source=x.source) for x in extra}
                js.exports = sorted([*js.exports, *unique.values()], key=lambda s: (s.line, s.name))


def scan_codebase(root: Path, app: str | None = None) -> dict[str, Any]:
    """The inventory of ``root`` (of its app folder ``app``, or the one picked) as a JSON-ready dict."""
    choice = choose_app(root, app)
    app_root = root / choice.root
    if not app_root.is_dir():
        raise ValueError(f"app folder not found: {app_root}")
    s = Scan(app_root)
    langs = Counter(LANGUAGES[f.suffix] for f in s.files if f.suffix in LANGUAGES)
    roles = Roles(s)
    return {
        "inventory_version": INVENTORY_VERSION,
        "codebase": root.resolve().name,
        "app": choice.as_dict(),
        "file_count": len(s.files),
        "languages": dict(sorted(langs.items())),
        "manifests": s.manifests,
        "frameworks": frameworks(s),
        "routes": routes(s),
        "exports": exports(s),
        "database": areas.database(s),
        "auth": areas.auth(s, roles),
        "storage": areas.storage(s, roles),
        "ui": areas.ui(s),
        "state": areas.state(s),
        "env": env_and_tests.env(s),
        "tests": env_and_tests.tests(s),
        "most_imported": [
            {"file": f, "importers": n}
            for f, n in sorted(s.importers.items(), key=lambda x: (-x[1], x[0]))[:15]
        ],
    }


def exports(s: Scan) -> list[dict[str, Any]]:
    """Every module's exported names (JS/TS in every export form; Python public or ``__all__``)."""
    out = []
    for path, js in s.js.items():
        if js.exports and not NOT_IMPORTED.search(path):
            symbols = [
                {"name": x.name, "kind": x.kind, "line": x.line, "signature": x.signature}
                | ({"from": x.source} if x.source else {})
                | ({"default": True} if x.default else {})
                for x in js.exports
            ]
            out.append({"file": path, "importers": s.importers.get(path, 0), "symbols": symbols})
    for path, py in s.py.items():
        if NOT_IMPORTED.search(path):
            continue
        public = set(py.all_names) if py.all_names is not None else None
        signatures = {x.name: x.signature for x in py.functions}
        symbols = [
            {"name": u.name, "kind": u.kind, "line": u.line, "signature": signatures.get(u.name, u.name)}
            for u in sorted(py.units.values(), key=lambda u: (u.line, u.name))
            if (u.name in public if public is not None else not u.name.startswith("_"))
        ]
        if symbols:
            out.append({"file": path, "importers": s.importers.get(path, 0), "symbols": symbols})
    return sorted(out, key=lambda m: m["file"])


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
