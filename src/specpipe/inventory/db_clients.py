"""Database client modules: the modules the app queries through, ranked by how many files import them.

A client module calls a client factory imported from a database package (``createServerClient``
from ``@supabase/ssr``, ``new PrismaClient()``, ``drizzle``, ``create_engine``) and exports
something. A helper that only uses a client it is given (``initializeDatabase(client)``) is not one.
The role says how to use it: ``server``, ``browser``, or ``admin`` when the export that creates the
client uses the service-role key (it bypasses row-level security: never for user requests).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from specpipe.inventory.roles import CONSUMER_FILE, calls, confidence, imported_by

if TYPE_CHECKING:
    from specpipe.inventory.assemble import Scan

# package prefix -> (client kind, factory names; "default" = the default import, whatever its local name)
DB_FACTORIES: dict[str, tuple[str, frozenset[str]]] = {
    "@supabase/": (
        "supabase",
        frozenset(
            {
                "createClient",
                "createServerClient",
                "createBrowserClient",
                "createRouteHandlerClient",
                "createServerComponentClient",
                "createClientComponentClient",
                "createServerActionClient",
                "createMiddlewareClient",
                "createPagesServerClient",
                "createPagesBrowserClient",
            }
        ),
    ),
    "@prisma/client": ("prisma", frozenset({"PrismaClient"})),
    "drizzle-orm": ("drizzle", frozenset({"drizzle"})),
    "pg": ("postgres (pg)", frozenset({"Pool", "Client"})),
    "postgres": ("postgres.js", frozenset({"default"})),
    "mysql2": ("mysql2", frozenset({"createPool", "createConnection"})),
    "kysely": ("kysely", frozenset({"Kysely"})),
    "knex": ("knex", frozenset({"default", "knex"})),
    "mongodb": ("mongodb", frozenset({"MongoClient"})),
    "mongoose": ("mongoose", frozenset({"default", "connect", "createConnection"})),
}
BROWSER_FACTORIES = frozenset(
    {"createBrowserClient", "createClientComponentClient", "createPagesBrowserClient"}
)
PRIVILEGED = re.compile(r"service_?role|SERVICE_ROLE|serviceRole|SERVICE_KEY", re.IGNORECASE)
PY_DB_CALLS = {
    "create_engine": "sqlalchemy",
    "create_async_engine": "sqlalchemy",
    "sessionmaker": "sqlalchemy",
    "async_sessionmaker": "sqlalchemy",
    "psycopg.connect": "psycopg",
    "psycopg2.connect": "psycopg2",
    "asyncpg.create_pool": "asyncpg",
    "create_client": "supabase",
}


def _db_package(spec: str) -> str | None:
    """The DB_FACTORIES key a module specifier belongs to (``@supabase/ssr`` -> ``@supabase/``)."""
    for p in DB_FACTORIES:
        if spec.startswith(p) if p.endswith("/") else (spec == p or spec.startswith(p + "/")):
            return p
    return None


def db_clients(s: Scan) -> list[dict[str, Any]]:
    """Modules that create a database client and export it, most imported first."""
    out = []
    for path, js in s.js.items():
        if CONSUMER_FILE.search(path):
            continue
        factories = {
            local: (spec, imported)
            for local, (spec, imported) in sorted(js.bindings.items())
            if (pkg := _db_package(spec)) and imported in DB_FACTORIES[pkg][1]
        }
        creators = []  # (export signature, privileged, factory local name, line)
        for x in js.exports:
            unit = js.units.get(x.name)
            if unit is None or x.kind in ("type", "reexport", "namespace"):
                continue
            for local in factories:
                if m := calls(local, unit.body):
                    line = unit.line + unit.body.count("\n", 0, m.start())
                    creators.append((x.signature, bool(PRIVILEGED.search(unit.body)), local, line))
                    break
        if not creators and any(x.kind != "type" for x in js.exports):  # created at module level
            for local in factories:
                if m := calls(local, js.text):
                    line = s.by_path[path].line_of(m.start())
                    creators.append(("", bool(PRIVILEGED.search(js.text)), local, line))
                    break
        if creators:
            out.append(_js_client(s, path, factories, creators))
    for path, py in s.py.items():
        call = next(
            (c for c in sorted(py.calls) if c in PY_DB_CALLS or c.rsplit(".", 1)[-1] in PY_DB_CALLS), None
        )
        if call is None or py.routes:
            continue
        key = call if call in PY_DB_CALLS else call.rsplit(".", 1)[-1]
        if key == "create_client" and not py.imports.get("create_client", "").startswith("supabase"):
            continue
        text = s.by_path[path].text
        m = re.search(rf"\b{re.escape(call.rsplit('.', 1)[-1])}\s*\(", text)
        line = s.by_path[path].line_of(m.start()) if m else 1
        out.append(_py_client(s, path, PY_DB_CALLS[key], call, PY_DB_CALLS[key], line, text))
    return sorted(out, key=lambda c: (-c["importers"], c["file"]))


def _js_client(
    s: Scan,
    path: str,
    factories: dict[str, tuple[str, str]],
    creators: list[tuple[str, bool, str, int]],
) -> dict[str, Any]:
    """A JS/TS client module; its role comes from the exports that create clients."""
    importers = s.importers.get(path, 0)
    plain = [c for c in creators if not c[1]]
    first = (plain or creators)[0]
    spec, imported = factories[first[2]]
    factory = imported if imported != "default" else first[2]
    role = "admin" if not plain else "browser" if factory in BROWSER_FACTORIES else "server"
    admin = [c[0] for c in creators if c[1] and c[0]]
    evidence = [f"{path}:{first[3]}: {factory}() from {spec}", imported_by(importers)]
    evidence += [
        f"{path}:{c[3]}: {c[0]} uses the service-role key (bypasses row-level security)"
        for c in creators
        if c[1]
    ]
    return {
        "kind": DB_FACTORIES[_db_package(spec) or ""][0],
        "file": path,
        "line": first[3],
        "role": role,
        "exports": [x.signature for x in s.js[path].exports if x.kind not in ("type", "reexport")],
        "admin_exports": admin,
        "importers": importers,
        "evidence": evidence,
        "confidence": confidence(importers, strong=bool(plain)),
    }


def _py_client(
    s: Scan, path: str, kind: str, factory: str, spec: str, line: int, text: str
) -> dict[str, Any]:
    """A Python client module."""
    importers = s.importers.get(path, 0)
    privileged = bool(PRIVILEGED.search(text))
    return {
        "kind": kind,
        "file": path,
        "line": line,
        "role": "admin" if privileged else "server",
        "exports": [f.signature for f in s.py[path].functions if not f.name.startswith("_")],
        "admin_exports": [],
        "importers": importers,
        "evidence": [f"{path}:{line}: {factory}() from {spec}", imported_by(importers)],
        "confidence": confidence(importers, strong=not privileged),
    }
