"""Python files read with ``ast``: imports, public functions, models, routes, settings, env names."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from specpipe.inventory.files import SourceFile
from specpipe.inventory.sql_scan import ColumnChange
from specpipe.inventory.symbols import Symbol, Unit

ROUTE_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
COLUMN_CALLS = frozenset({"Column", "mapped_column"})


@dataclass(frozen=True)
class PyRoute:
    """A decorated view: router variable, method, path, handler name and line."""

    router: str
    method: str
    path: str
    handler: str
    line: int


@dataclass
class PyFile:
    """What one Python module defines and uses."""

    path: str
    module: str
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted module (or module.attr)
    functions: list[Symbol] = field(default_factory=list)
    docstrings: dict[str, str] = field(default_factory=dict)
    routes: list[PyRoute] = field(default_factory=list)
    router_prefixes: dict[str, str] = field(default_factory=dict)  # router var -> its own prefix
    includes: list[tuple[str, str]] = field(default_factory=list)  # (router expression, prefix)
    tables: list[tuple[str, list[str], int]] = field(default_factory=list)
    env: list[tuple[str, int]] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)  # dotted names called anywhere, e.g. "boto3.client"
    s3_buckets: list[tuple[str, int]] = field(default_factory=list)
    column_changes: list[ColumnChange] = field(default_factory=list)  # alembic drop/rename
    units: dict[str, Unit] = field(default_factory=dict)  # top-level defs, classes, instances
    all_names: list[str] | None = None  # ``__all__`` when the module sets it


def module_name(path: str) -> str:
    """``app/routers/items.py`` -> ``app.routers.items``; a package's ``__init__`` is the package."""
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def scan_py(f: SourceFile) -> PyFile | None:
    """Scan one Python file; None when it does not parse."""
    try:
        tree = ast.parse(f.text)
    except (SyntaxError, ValueError):
        return None
    out = PyFile(f.path, module_name(f.path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.imports[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                out.imports[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Call):
            _call(node, out)
        elif (
            isinstance(node, ast.Subscript)
            and _dotted(node.value) == "os.environ"
            and (k := _const(node.slice))
        ):
            out.env.append((k, node.lineno))
    lines = f.text.splitlines()
    for node in tree.body:
        _unit(node, lines, out)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _function(node, out)
        elif isinstance(node, ast.ClassDef):
            _class(node, out)
        elif isinstance(node, ast.Assign) and _dotted(node.targets[0]) == "__all__":
            if isinstance(node.value, ast.List | ast.Tuple):
                out.all_names = [c for e in node.value.elts if (c := _const(e))]
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            ctor = _dotted(node.value.func).split(".")[-1]
            prefix = _const(_kw(node.value, "prefix") or _kw(node.value, "url_prefix"))
            if ctor in ("APIRouter", "Blueprint") and len(node.targets) == 1:
                out.router_prefixes[_dotted(node.targets[0])] = prefix or ""
    return out


def _source(node: ast.AST, lines: list[str]) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])  # type: ignore[attr-defined]
    return "\n".join(lines[start - 1 : node.end_lineno])  # type: ignore[attr-defined]


def _unit(node: ast.stmt, lines: list[str], out: PyFile) -> None:
    """Record a top-level function, class (with its methods) or instance with its source."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        out.units[node.name] = Unit(node.name, "function", node.lineno, _source(node, lines))
    elif isinstance(node, ast.ClassDef):
        members = tuple(
            (m.name, m.lineno, _source(m, lines))
            for m in node.body
            if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
        )
        out.units[node.name] = Unit(node.name, "class", node.lineno, _source(node, lines), members)
    elif (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Call)
    ):
        name = node.targets[0].id
        out.units[name] = Unit(name, "object", node.lineno, _source(node, lines))


def _call(node: ast.Call, out: PyFile) -> None:
    name = _dotted(node.func)
    if name:
        out.calls.add(name)
    first = _const(node.args[0]) if node.args else None
    if name in ("os.getenv", "os.environ.get", "environ.get", "getenv") and first:
        out.env.append((first, node.lineno))
    elif name.endswith("include_router") and node.args:
        out.includes.append((_dotted(node.args[0]), _const(_kw(node, "prefix")) or ""))
    elif name.endswith("register_blueprint") and node.args:
        out.includes.append((_dotted(node.args[0]), _const(_kw(node, "url_prefix")) or ""))
    elif name in ("op.create_table", "op.add_column") and first:
        cols = [
            c
            for a in node.args[1:]
            if isinstance(a, ast.Call)
            and _dotted(a.func).endswith("Column")  # not PrimaryKeyConstraint("id") and the like
            and (c := _const(a.args[0] if a.args else None))
        ]
        out.tables.append((first, cols, node.lineno))
    elif name in ("op.drop_column", "op.alter_column") and first and len(node.args) > 1:
        col, renamed = _const(node.args[1]), _const(_kw(node, "new_column_name"))
        if col and name == "op.drop_column":
            out.column_changes.append(ColumnChange(first, "drop", col, "", node.lineno))
        elif col and renamed:
            out.column_changes.append(ColumnChange(first, "rename", col, renamed, node.lineno))
    bucket = _const(_kw(node, "Bucket"))
    if bucket:
        out.s3_buckets.append((bucket, node.lineno))


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef, out: PyFile) -> None:
    args = ast.unparse(node.args)
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    prefix = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
    out.functions.append(Symbol(node.name, "function", node.lineno, f"{prefix}{node.name}({args}){returns}"))
    doc = ast.get_docstring(node)
    if doc:
        out.docstrings[node.name] = doc.strip().splitlines()[0]
    for deco in node.decorator_list:
        if not isinstance(deco, ast.Call) or not isinstance(deco.func, ast.Attribute):
            continue
        router, verb = _dotted(deco.func.value), deco.func.attr
        path = _const(deco.args[0]) if deco.args else _const(_kw(deco, "path"))
        if path is None:
            continue
        if verb in ROUTE_METHODS:
            out.routes.append(PyRoute(router, verb.upper(), path, node.name, node.lineno))
        elif verb in ("api_route", "route"):
            methods = _kw(deco, "methods")
            names = (
                [_const(e) for e in methods.elts] if isinstance(methods, ast.List | ast.Tuple) else ["GET"]
            )
            for m in names:
                if m:
                    out.routes.append(PyRoute(router, m.upper(), path, node.name, node.lineno))


def _class(node: ast.ClassDef, out: PyFile) -> None:
    bases = [ast.unparse(b) for b in node.bases]
    out.functions.append(Symbol(node.name, "class", node.lineno, f"class {node.name}({', '.join(bases)})"))
    table: str | None = None
    cols: list[str] = []
    value: ast.expr | None
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            target, value = stmt.target.id, stmt.value
            if "Mapped[" in ast.unparse(stmt.annotation) and value is None:
                cols.append(target)
                continue
            if any(b.endswith("BaseSettings") for b in bases):
                out.env.append((target.upper(), stmt.lineno))  # pydantic-settings reads FIELD_NAME
                continue
        else:
            continue
        if target == "__tablename__":
            table = _const(value)
        elif isinstance(value, ast.Call):
            called = _dotted(value.func).split(".")[-1]
            if called in COLUMN_CALLS or (called.endswith("Field") and "models" in _dotted(value.func)):
                cols.append(target)
    if table is None and any(b in ("models.Model", "Model") for b in bases) and cols:
        table = node.name.lower()  # Django's default is app_label + name; the app label is not known here
    if table:
        out.tables.append((table, cols, node.lineno))
