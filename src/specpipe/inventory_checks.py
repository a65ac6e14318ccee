"""Spec checks against the codebase inventory: tables, routes and buckets the spec uses but nobody makes.

A spec merged by an LLM drifts from the codebase: it queries ``lora_datasets`` where the migrations
create ``datasets``, fetches ``/api/training/jobs`` that no route serves, uploads to a bucket that
does not exist. Each use is checked against what the spec itself creates plus what the inventory
found; a miss is reported at the spec line with the closest existing name as the suggestion.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from specpipe.artifacts import BUCKET_DEF, TABLE_DEF, classify_layer, provided
from specpipe.findings import Finding
from specpipe.spec_model import Spec
from specpipe.spec_parser import code_mask

TABLE_CALL = re.compile(r"""(?<!storage)\.from\(\s*['"`](\w+)['"`]\s*\)""")
TABLE_REFERENCES = re.compile(r"""\breferences\s+(?:(\w+)\.)?"?(\w+)"?""", re.IGNORECASE)
SQL_FROM = re.compile(r"\b(?:from|join|into|update)\s+(?:(\w+)\.)?\"?([a-z_]\w*)\"?", re.IGNORECASE)
SQL_LINE = re.compile(r"^\s*(?:select|insert|update|delete|with)\b|\bjoin\b", re.IGNORECASE)
PROSE_TABLE = re.compile(
    r"\b(?:reads?|reading|quer(?:y|ies|ying)|selects?|selecting|fetch(?:es|ing)?|loads?|loading|joins?|"
    r"joined|joining|lists?|listing|looks? up|writes?|inserts?|updates?)\b[^.;\n]{0,40}?(?:`(\w+)`|\b([a-z]\w*_\w+))"
    r"\s+table\b",
    re.IGNORECASE,
)
FETCH = re.compile(r"""\b(?:fetch|axios\.\w+|ky\.\w+|api\.\w+)\(\s*[`'"](/[^`'"\s?#]*)""")
# Navigation to a page: router.push('/x'), redirect('/x'), <Link href="/x">; files (/logo.png) are not pages.
NAVIGATE = re.compile(
    r"""(?:\brouter\.(?:push|replace)\(|\bredirect\(|\bhref=\{?)\s*[`'"](/[^`'"\s?#.]*)[`'"]"""
)
METHOD_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+`?(/[\w/\-\[\]{}:.$]*)")
BUCKET_CALL = re.compile(r"""\.storage\s*\.from\(\s*['"`]([\w-]+)['"`]""")
PROSE_BUCKET = re.compile(r"`([\w-]+)`\s+(?:storage\s+)?bucket\b|\bbucket\s+`([\w-]+)`", re.IGNORECASE)
CREATES = re.compile(r"\b(?:creates?|creating|new|adds?|adding|provision\w*)\b", re.IGNORECASE)
SYSTEM_SCHEMAS = frozenset({"auth", "storage", "information_schema", "pg_catalog", "extensions"})
SQL_WORDS = frozenset({"select", "set", "values", "where", "lateral", "only", "unnest", "jsonb_each", "the"})
DYNAMIC = re.compile(r"\$\{[^}]*\}|\[\[?\.{0,3}\w+\]?\]|:\w+|\{\w*\}")


def normalise_route(path: str) -> str:
    """``/api/jobs/${id}/``, ``/api/jobs/[id]``, ``/api/jobs/:id`` and ``/api/jobs/{id}`` -> ``/api/jobs/{}``."""
    return DYNAMIC.sub("{}", path.rstrip(".,:;)`")).rstrip("/") or "/"


def closest(name: str, known: dict[str, str], key: Callable[[str], str] = str) -> str:
    """`` did you mean 'x' (where)?`` for the nearest known name, or nothing when none is near.

    ``key`` puts both sides in the form they are compared in (routes: dynamic segments as ``{}``).
    """
    if not known:
        return ""
    target = key(name)
    keyed = {key(k): k for k in known}
    contained = [k for k in keyed if len(k) >= 3 and (k in target or target in k)]
    pick = max(contained, key=len) if contained else None
    if pick is None:
        near = difflib.get_close_matches(target, list(keyed), n=1, cutoff=0.6)
        pick = near[0] if near else None
    if pick is None:
        return ""
    original = keyed[pick]
    where = f" ({known[original]})" if known[original] else ""
    return f"; did you mean '{original}'{where}?"


def _layers_by_line(spec: Spec) -> dict[int, str]:
    out: dict[int, str] = {}
    for req in spec.requirements:
        layer = classify_layer(req)
        for line in range(req.line, req.end_line + 1):
            out[line] = layer
    return out


def _spec_creates(spec: Spec) -> tuple[set[str], set[str], set[str]]:
    """(tables, route paths, buckets) the spec itself creates."""
    text = "\n".join(spec.lines)
    tables = {m.lower() for m in TABLE_DEF.findall(text)}
    buckets = set(BUCKET_DEF.findall(text))
    routes: set[str] = set()
    for req in spec.requirements:
        for artifact in provided(req, classify_layer(req)):
            kind, _, value = artifact.partition(":")
            if kind == "route":
                routes.add(normalise_route(value.split(" ", 1)[1]))
            elif kind == "file" and (m := re.search(r"(?:^|/)app/(.*?)/?(?:route|page)\.\w+$", value)):
                parts = [p for p in m.group(1).split("/") if p and not p.startswith(("(", "@"))]
                routes.add(normalise_route("/" + "/".join(parts)))
    for line in spec.lines:
        if CREATES.search(line):
            for m in PROSE_BUCKET.finditer(line):
                buckets.add(m.group(1) or m.group(2))
    return tables, routes, buckets


def _known(inv: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Names the codebase has -> where (for the suggestion)."""
    db = inv["database"]
    tables = {t["name"].lower(): (t["defined_in"] or [""])[0] for t in db["tables"]}
    for t in db.get("tables_used_not_created", []):
        tables.setdefault(t["name"].lower(), t["used_in"][0])
    routes = {r["path"]: r["file"] for r in inv["routes"]}
    buckets = {b["name"]: (b["defined_in"] or b["used_in"] or [""])[0] for b in inv["storage"]["buckets"]}
    return tables, routes, buckets


def check_against_inventory(spec: Spec, inv: dict[str, Any]) -> list[Finding]:
    """Tables, routes and buckets the spec uses that neither it nor the codebase creates."""
    known_tables, known_routes, known_buckets = _known(inv)
    new_tables, new_routes, new_buckets = _spec_creates(spec)
    in_code = code_mask(spec.lines)
    layers = _layers_by_line(spec)
    out: list[Finding] = []
    reported: set[tuple[str, str]] = set()

    route_keys = {normalise_route(p) for p in known_routes}

    def report(kind: str, name: str, line: int, verb: str, known: dict[str, str]) -> None:
        if (kind, name) in reported:
            return
        reported.add((kind, name))
        code = {"table": "TABLE_NOT_FOUND", "route": "ROUTE_NOT_FOUND", "bucket": "BUCKET_NOT_FOUND"}[kind]
        msg = f"{kind} '{name}' is {verb} here, but neither the spec nor the codebase creates it"
        key = normalise_route if kind == "route" else str
        out.append(Finding(spec.path, line, code, "error", msg + closest(name, known, key)))

    for i, text in enumerate(spec.lines):
        line, code = i + 1, in_code[i]
        tables = [(m, "queried") for m in TABLE_CALL.findall(text)]
        tables += [
            (b, "referenced") for a, b in TABLE_REFERENCES.findall(text) if a.lower() not in SYSTEM_SCHEMAS
        ]
        if code and SQL_LINE.search(text) and "import " not in text:
            tables += [(b, "queried") for a, b in SQL_FROM.findall(text) if a.lower() not in SYSTEM_SCHEMAS]
        if not code:  # prose: only names that look like identifiers (`quoted` or snake_case)
            tables += [(a or b, "read") for a, b in PROSE_TABLE.findall(text)]
        for name, verb in tables:
            name = name.lower()
            if name not in SQL_WORDS and name not in new_tables and name not in known_tables:
                report("table", name, line, verb, known_tables)
        paths = FETCH.findall(text) + NAVIGATE.findall(text)
        if layers.get(line) != "api":
            paths += [p for _m, p in METHOD_PATH.findall(text)]
        for path in paths:
            norm = normalise_route(path)
            if norm not in new_routes and norm not in route_keys:
                report("route", path.rstrip(".,:;)`"), line, "called", known_routes)
        buckets = BUCKET_CALL.findall(text)
        if not code and not CREATES.search(text):
            buckets += [a or b for a, b in PROSE_BUCKET.findall(text)]
        for name in buckets:
            if name not in new_buckets and name not in known_buckets:
                report("bucket", name, line, "used", known_buckets)
    return out


def load_inventory(path: Path) -> dict[str, Any]:
    """An inventory JSON written by ``specpipe inventory``; ValueError (with the file) when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable inventory JSON ({exc})") from None
    if not isinstance(data, dict) or not all(k in data for k in ("database", "routes", "storage")):
        raise ValueError(f"{path}: not an inventory (no database/routes/storage); run specpipe inventory")
    return data
