"""Scan of JavaScript/TypeScript files: imports, exports with signatures, env names, Supabase use.

Exports and definitions come from tree-sitter (ts_parse); the usage facts (imports, env names,
tables, buckets) are regexes over the text with comments blanked. Without the tree-sitter wheels,
exports fall back to regexes that read the common declaration forms and trailing export lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from specpipe.inventory.files import SourceFile
from specpipe.inventory.symbols import Symbol, Unit
from specpipe.inventory.ts_parse import parse_module

JS_SUFFIXES = frozenset({".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs"})
IMPORT = re.compile(
    r"""(?:\bimport\s+(?:[^'";]*?\s+from\s+)?|\bexport\s+[^'";]*?\s+from\s+|\brequire\(\s*)['"]([^'"]+)['"]"""
)
EXPORT_FN = re.compile(
    r"\bexport\s+(default\s+)?(async\s+)?function\s*\*?\s*(\w+)\s*(?:<[^>]*>)?\s*\(([^)]*)\)"
)
EXPORT_ARROW = re.compile(
    r"\bexport\s+const\s+(\w+)\s*(?::[^=]+)?=\s*(async\s+)?(?:\(([^)]*)\)|(\w+))\s*(?::[^=]+)?=>"
)
EXPORT_CONST = re.compile(r"\bexport\s+(?:const|let)\s+(\w+)")
EXPORT_TYPE = re.compile(r"\bexport\s+(?:type|interface)\s+(\w+)")
EXPORT_LIST = re.compile(r"""\bexport\s+(?:type\s+)?\{([^}]*)\}\s*(?:from\s*['"]([^'"]+)['"])?""")
IMPORT_BINDINGS = re.compile(
    r"""\bimport\s+(?:type\s+)?(?:(\w+)\s*,?\s*)?(?:\*\s*as\s+(\w+)\s*)?(?:\{([^}]*)\}\s*)?from\s*['"]([^'"]+)['"]"""
)
EXPORT_CLASS = re.compile(r"\bexport\s+(?:default\s+)?class\s+(\w+)")
ENV = re.compile(
    r"""\bprocess\.env\.([A-Z_][A-Z0-9_]*)|\bprocess\.env\[\s*['"]([A-Z_][A-Z0-9_]*)['"]|"""
    r"""\bimport\.meta\.env\.([A-Z_][A-Z0-9_]*)|\bDeno\.env\.get\(\s*['"]([A-Z_][A-Z0-9_]*)['"]"""
)
ORM_TABLE = re.compile(r"""\b(?:pgTable|mysqlTable|sqliteTable)\s*\(\s*['"](\w+)['"]\s*,\s*\{""")
ORM_COLUMN = re.compile(r"""(?:^|[{,])\s*['"]?(\w+)['"]?\s*:""")
TABLE_USE = re.compile(r"""(?<!storage)\.from\(\s*['"](\w+)['"]\s*\)""")
BUCKET_USE = re.compile(r"""\.storage\s*\.from\(\s*(?:['"]([\w-]+)['"]|(\w+))\s*\)""")
STRING_CONST = re.compile(r"""\bconst\s+(\w+)\s*=\s*['"]([\w-]+)['"]""")
AUTH_USE = re.compile(
    r"\.auth\.(?:getUser|getSession|signIn\w*|signOut|exchangeCodeForSession)\b|\bgetServerSession\b|"
    r"\bauth\(\)|\bcurrentUser\(\)|\bgetToken\("
)
EXPRESS_ROUTE = re.compile(
    r"""\b(?:app|router|server)\.(get|post|put|patch|delete|all)\(\s*['"`](/[^'"`]*)['"`]"""
)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass
class JsFile:
    """What one JS/TS file imports, exports and touches."""

    path: str
    imports: list[str] = field(default_factory=list)
    exports: list[Symbol] = field(default_factory=list)
    env: list[tuple[str, int]] = field(default_factory=list)
    tables: list[tuple[str, int]] = field(default_factory=list)
    defined_tables: list[tuple[str, list[str], int]] = field(default_factory=list)  # Drizzle pgTable(...)
    buckets: list[tuple[str, int]] = field(default_factory=list)
    auth_calls: int = 0
    express_routes: list[tuple[str, str, int]] = field(default_factory=list)
    text: str = ""  # comments blanked where tree-sitter read the file
    units: dict[str, Unit] = field(default_factory=dict)
    bindings: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (module, name)
    star_sources: list[str] = field(default_factory=list)


def _params(raw: str | None) -> str:
    return " ".join((raw or "").split())


def scan_js(f: SourceFile) -> JsFile:
    """Scan one JS/TS source file."""
    parsed = parse_module(f.text, f.suffix)
    text = parsed.text if parsed is not None else f.text
    out = JsFile(f.path, text=text)
    out.imports = sorted({m.group(1) for m in IMPORT.finditer(text)})
    if parsed is not None:
        out.exports, out.units = parsed.exports, parsed.units
        out.bindings, out.star_sources = parsed.bindings, parsed.star_sources
    else:
        out.exports = regex_exports(f)
        # Without a parser the whole file stands for each exported definition.
        out.units = {s.name: Unit(s.name, s.kind, s.line, text) for s in out.exports}
        out.bindings = regex_bindings(text)
    for m in ENV.finditer(text):
        name = next(g for g in m.groups() if g)
        out.env.append((name, f.line_of(m.start())))
    out.tables = [(m.group(1), f.line_of(m.start())) for m in TABLE_USE.finditer(text)]
    out.defined_tables = [
        (m.group(1), _object_keys(text, m.end()), f.line_of(m.start())) for m in ORM_TABLE.finditer(text)
    ]
    consts = dict(STRING_CONST.findall(text))
    for m in BUCKET_USE.finditer(text):
        name = m.group(1) or consts.get(m.group(2) or "")
        if name:
            out.buckets.append((name, f.line_of(m.start())))
    out.auth_calls = len(AUTH_USE.findall(text))
    out.express_routes = [
        (m.group(1).upper(), m.group(2), f.line_of(m.start())) for m in EXPRESS_ROUTE.finditer(text)
    ]
    return out


def regex_exports(f: SourceFile) -> list[Symbol]:
    """Exported symbols found by regex: the fallback when tree-sitter is not installed."""
    text = f.text
    exports: list[Symbol] = []
    seen: set[str] = set()
    for m in EXPORT_FN.finditer(text):
        name = m.group(3)
        seen.add(name)
        prefix = "async " if m.group(2) else ""
        exports.append(
            Symbol(name, "function", f.line_of(m.start()), f"{prefix}{name}({_params(m.group(4))})")
        )
    for m in EXPORT_ARROW.finditer(text):
        name = m.group(1)
        seen.add(name)
        prefix = "async " if m.group(2) else ""
        params = m.group(3) if m.group(3) is not None else m.group(4)
        exports.append(Symbol(name, "function", f.line_of(m.start()), f"{prefix}{name}({_params(params)})"))
    for rx, kind in ((EXPORT_CLASS, "class"), (EXPORT_TYPE, "type"), (EXPORT_CONST, "const")):
        for m in rx.finditer(text):
            if m.group(1) not in seen:
                seen.add(m.group(1))
                exports.append(Symbol(m.group(1), kind, f.line_of(m.start()), m.group(1)))
    for m in EXPORT_LIST.finditer(text):
        for part in m.group(1).split(","):
            name = part.split(" as ")[-1].strip()
            if name and name not in seen:
                seen.add(name)
                kind = "reexport" if m.group(2) else "const"
                exports.append(Symbol(name, kind, f.line_of(m.start()), name, source=m.group(2) or ""))
    return sorted(exports, key=lambda s: (s.line, s.name))


def _object_keys(text: str, start: int) -> list[str]:
    """Top-level keys of the object literal that opens just before ``start`` (Drizzle column names)."""
    depth, i = 1, start
    top_level: list[str] = []  # the literal's own characters; nested (...), {...}, [...] left out
    while i < len(text) and depth:
        ch = text[i]
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif depth == 1:
            top_level.append(ch)
        i += 1
    return [m.group(1) for m in ORM_COLUMN.finditer("," + "".join(top_level))]


def regex_bindings(text: str) -> dict[str, tuple[str, str]]:
    """Import bindings (local -> (module, imported name)) found by regex: the fallback's view."""
    out: dict[str, tuple[str, str]] = {}
    for m in IMPORT_BINDINGS.finditer(text):
        default, namespace, named, source = m.groups()
        if default:
            out[default] = (source, "default")
        if namespace:
            out[namespace] = (source, "*")
        for part in (named or "").split(","):
            name, _, alias = part.replace("type ", "").strip().partition(" as ")
            if name:
                out[(alias or name).strip()] = (source, name.strip())
    return out


def http_handlers(js: JsFile) -> list[Symbol]:
    """Exports named after HTTP methods (Next.js route handlers)."""
    return [s for s in js.exports if s.name in HTTP_METHODS]
