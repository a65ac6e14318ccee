"""The import rules of ``src/lorapipe`` as data, and a checker over ``ast`` (lazy imports inside functions
count: they run one day).

Layers, top to bottom: a package may import packages in lower layers only; packages in one layer are
siblings and import none of each other. ``docs/architecture.md`` draws the same picture.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli"}),
    frozenset({"server"}),
    frozenset({"api", "web"}),
    frozenset({"services", "training", "worker", "inference"}),
    frozenset({"backends", "jobs", "estimate"}),
    frozenset({"datasets"}),
    frozenset({"models", "db", "storage"}),
    frozenset({"contract"}),
    frozenset({"settings", "errors"}),
)
#: What the web process (``lorapipe serve``: server, api, web and all they import) must never reach.
ML_STACK = frozenset({"torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "safetensors"})
WEB_ENTRY = ("lorapipe.server",)


@dataclass(frozen=True)
class Edge:
    source: str  # module, e.g. lorapipe.jobs.store
    target: str  # module or package imported, e.g. lorapipe.db.jobs, torch
    line: int


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def collect_edges(root: Path) -> list[Edge]:
    """Every import statement in the package at ``root`` (e.g. ``src/lorapipe``), lazy ones included."""
    modules = {_module_name(root, p): p for p in root.rglob("*.py")}
    edges: list[Edge] = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                edges += [Edge(name, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    edges.append(Edge(name, sub if sub in modules else base, node.lineno))
    return edges


def unit_of(module: str) -> str | None:
    """The layer unit of a lorapipe module (``lorapipe.jobs.store`` -> ``jobs``), None outside it."""
    parts = module.split(".")
    if parts[0] != "lorapipe" or len(parts) < 2:
        return None
    return parts[1]


def _layer(unit: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if unit in layer), None)


def layer_violations(edges: list[Edge]) -> list[str]:
    """One line per import that goes up, sideways between siblings, or into a unit no layer names."""
    problems = []
    for e in edges:
        src, dst = unit_of(e.source), unit_of(e.target)
        if src is None or dst is None or src == dst:
            continue
        ls, ld = _layer(src), _layer(dst)
        if ls is None or ld is None:
            problems.append(
                f"{e.source}:{e.line} -> {e.target}: '{src if ls is None else dst}' is in no layer"
            )
        elif ld < ls:
            problems.append(f"{e.source}:{e.line} -> {e.target}: upward ({src} is below {dst})")
        elif ld == ls:
            problems.append(f"{e.source}:{e.line} -> {e.target}: between siblings {src} and {dst}")
    return problems


def ml_stack_reachable(edges: list[Edge], entries: tuple[str, ...] = WEB_ENTRY) -> list[str]:
    """Import chains from an entry module to any ML-stack package, one line per offending import."""
    graph: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        graph[e.source].append(e)
    seen: dict[str, str] = {m: m for m in entries}  # module -> the chain that reached it
    todo = list(entries)
    problems = []
    while todo:
        module = todo.pop()
        for e in graph.get(module, []):
            top = e.target.split(".")[0]
            if top in ML_STACK:
                problems.append(f"{seen[module]} -> {e.target} (line {e.line})")
            elif top == "lorapipe":
                # Importing a.b.c runs a/__init__ and a/b/__init__ too.
                parts = e.target.split(".")
                for i in range(2, len(parts) + 1):
                    target = ".".join(parts[:i])
                    if target not in seen:
                        seen[target] = f"{seen[module]} -> {target}"
                        todo.append(target)
    return problems


#: What a route module may take from SQLAlchemy: the session type and database errors, no query building.
SQL_ALLOWED = {"sqlalchemy.orm": {"Session", "sessionmaker"}, "sqlalchemy.exc": None}
#: Session methods that run SQL; a route calls a service instead.
SQL_CALLS = frozenset({"execute", "scalar", "scalars", "query", "flush", "commit", "rollback"})


def sql_in_routes(api_root: Path) -> list[str]:
    """One line per SQL construct in the route package at ``api_root`` (``src/lorapipe/api``): an import
    of SQLAlchemy's query building (``select``, ``func``, ``text``, ``sqlalchemy`` itself) or a call of
    a session method that runs SQL (``.execute``, ``.scalars``, ``.commit``...)."""
    problems = []
    for path in sorted(api_root.rglob("*.py")):
        rel = path.relative_to(api_root.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                problems += [
                    f"{rel}:{node.lineno}: import {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] == "sqlalchemy"
                ]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
                allowed = SQL_ALLOWED.get(node.module or "", set())
                bad = [a.name for a in node.names if allowed is not None and a.name not in allowed]
                if bad:
                    problems.append(f"{rel}:{node.lineno}: from {node.module} import {', '.join(bad)}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
            ):
                problems.append(f"{rel}:{node.lineno}: .{node.func.attr}(...) runs SQL in a route module")
    return problems
