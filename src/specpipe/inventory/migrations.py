"""Migration folders the tooling uses, and the tables (with columns) that the migrations build.

Only folders a migration tool reads count: ``supabase/migrations``, ``prisma/migrations``, a
``drizzle`` folder (or the ``out`` folder its config names, or one with ``meta/_journal.json``),
``alembic/versions`` (any ``versions`` folder whose files import alembic), Django app
``migrations``, and a plain ``migrations`` / ``db/migrations`` folder outside ``scripts/`` and
``src/``. SQL elsewhere (dumps in ``scripts/``, verify scripts in ``src/``) is reported as
"SQL outside migrations" and never defines the app's tables.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from specpipe.inventory.sql_scan import ColumnChange

if TYPE_CHECKING:
    from specpipe.inventory.assemble import Scan

DRIZZLE_OUT = re.compile(r"""\bout\s*:\s*['"]\.?/?([\w./-]+?)/?['"]""")
NOT_A_MIGRATION_HOME = re.compile(r"(^|/)(scripts?|src|tmp|temp|dumps?|exports?|docs?)(/|$)")


def _drizzle_dirs(s: Scan) -> set[str]:
    out = set()
    for path, f in s.by_path.items():
        if re.search(r"(^|/)drizzle\.config\.\w+$", path) and (m := DRIZZLE_OUT.search(f.text)):
            out.add(str(PurePosixPath(path).parent / m.group(1)).removeprefix("./"))
        if path.endswith("meta/_journal.json"):
            out.add(str(PurePosixPath(path).parent.parent))
    return out


def tool_of(path: str, s: Scan, drizzle: set[str]) -> tuple[str, str] | None:
    """(tool, migration folder) when ``path`` is a migration file a tool runs, else None."""
    p = PurePosixPath(path)
    parent = str(p.parent)
    if p.suffix == ".sql":
        if re.search(r"(^|/)supabase/migrations$", parent):
            return "supabase", parent
        if p.name == "migration.sql" and re.search(r"(^|/)prisma/migrations$", str(p.parent.parent)):
            return "prisma", str(p.parent.parent)
        if parent in drizzle or re.search(r"(^|/)drizzle(/migrations)?$", parent):
            return "drizzle", parent
        if re.search(r"(^|/)(db/|database/)?migrations$", parent) and not NOT_A_MIGRATION_HOME.search(parent):
            return "sql", parent
        return None
    if p.suffix == ".py" and path in s.py:
        imports = s.py[path].imports.values()
        if p.parent.name == "versions" and any(v.startswith("alembic") for v in imports):
            return "alembic", parent
        if p.parent.name == "migrations" and any(v.startswith("django.db") for v in imports):
            return "django", parent
    return None


def _naming(names: list[str]) -> str:
    if all(re.fullmatch(r"\d{14}_\w+\.sql", n) for n in names):
        return "YYYYMMDDHHMMSS_<name>.sql"
    if all(re.fullmatch(r"\d{4}_\w+\.(sql|py)", n) for n in names):
        return "NNNN_<name>" + PurePosixPath(names[0]).suffix
    if all(n == "migration.sql" for n in names):
        return "<timestamp>_<name>/migration.sql"
    if all(re.fullmatch(r"[0-9a-f]{6,}_\w+\.py", n) for n in names):
        return "<revision>_<name>.py"
    return "mixed"


def migrations(s: Scan) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]]]:
    """(migration folders ranked by file count, file -> (tool, folder) for each migration file)."""
    drizzle = _drizzle_dirs(s)
    files: dict[str, tuple[str, str]] = {}
    for path in list(s.sql) + list(s.py):
        hit = tool_of(path, s, drizzle)
        if hit:
            files[path] = hit
    folders: dict[tuple[str, str], list[str]] = {}
    for path, key in sorted(files.items()):
        folders.setdefault(key, []).append(path)
    out: list[dict[str, Any]] = []
    for (tool, folder), paths in folders.items():
        names = [PurePosixPath(p).name if tool != "prisma" else "migration.sql" for p in paths]
        out.append(
            {
                "dir": folder,
                "tool": tool,
                "count": len(paths),
                "naming": _naming(names),
                "evidence": [f"{paths[0]}: first", f"{paths[-1]}: latest"] if len(paths) > 1 else [paths[0]],
                "confidence": "medium" if tool == "sql" else "high",
            }
        )
    out.sort(key=lambda m: (m["confidence"] != "high", -m["count"], m["dir"]))
    return out, files


def tables(
    s: Scan, migration_files: dict[str, tuple[str, str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(tables from migrations, schemas and models with columns; tables the code queries that nothing
    in the codebase creates; SQL files outside the migration folders)."""
    found: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return found.setdefault(name, {"name": name, "columns": [], "defined_in": [], "used_in": []})

    def create(name: str, cols: list[str], where: str) -> None:
        t = entry(name)
        t["columns"] += [c for c in cols if c not in t["columns"]]
        t["defined_in"].append(where)

    def apply(changes: list[ColumnChange]) -> None:
        for ch in changes:
            t = entry(ch.table)
            if ch.action == "add" and ch.column not in t["columns"]:
                t["columns"].append(ch.column)
            elif ch.action == "drop" and ch.column in t["columns"]:
                t["columns"].remove(ch.column)
            elif ch.action == "rename" and ch.column in t["columns"]:
                if ch.new in t["columns"]:  # a model already names the new column
                    t["columns"].remove(ch.column)
                else:
                    t["columns"][t["columns"].index(ch.column)] = ch.new

    outside: list[dict[str, Any]] = []
    for path in sorted(s.sql):  # timestamped names sort in the order the tool applies them
        sql = s.sql[path]
        if path not in migration_files:
            if sql.tables:
                outside.append({"file": path, "tables": sorted({t[0] for t in sql.tables})})
            continue
        for name, cols, line in sql.tables:
            create(name, cols, f"{path}:{line}")
        apply(sql.changes)
    for path, models in s.prisma.items():
        for name, cols, line in models:
            create(name, cols, f"{path}:{line}")
    for path, py in s.py.items():
        for name, cols, line in py.tables:
            create(name, cols, f"{path}:{line}")
    for path in sorted(p for p in s.py if p in migration_files):
        # Alembic revisions are named by hash, not in order; drops and renames come after every add.
        apply(s.py[path].column_changes)
    for path, js in s.js.items():  # Drizzle schema files: pgTable("name", { column: … })
        for name, cols, line in js.defined_tables:
            create(name, cols, f"{path}:{line}")
    used_only: dict[str, dict[str, Any]] = {}
    for path, js in s.js.items():
        for name, _line in js.tables:
            t = found.get(name) or used_only.setdefault(name, {"name": name, "used_in": []})
            if path not in t["used_in"]:
                t["used_in"].append(path)
    tables = [found[k] for k in sorted(found) if found[k]["defined_in"] or found[k]["columns"]]
    return tables, [used_only[k] for k in sorted(used_only)], outside
