"""JS/TS modules read with tree-sitter (the TypeScript/TSX grammars): exports in every form, imports, units.

Exports: declarations (``export function``/``class``/``const``), trailing export lists
(``export { Button, buttonVariants }``, the shadcn/ui style), ``export default`` of a declaration, a
name or a value, re-exports (``export { x } from``, ``export * as ns from``; ``export * from`` is
expanded by the caller, which can resolve the other file) and CommonJS ``module.exports``.
Units are the top-level definitions with their code (comments blanked) so the role rules can read
what a function, class or object does. The TSX grammar also reads plain JS and JSX.
"""

from __future__ import annotations

import functools
from typing import Any

from specpipe.inventory.symbols import Symbol
from specpipe.inventory.ts_nodes import (
    CLASS_DECLS,
    FUNCTION_DECLS,
    TYPE_DECLS,
    VAR_DECLS,
    ParsedModule,
    Reader,
    declarators,
    read_import,
    read_require,
    signature,
    string,
    text,
)

try:  # pinned in pyproject; optional so the scan still works where the wheels are missing
    import tree_sitter
    import tree_sitter_typescript
except ImportError:  # pragma: no cover - exercised only without the wheels
    tree_sitter = None  # type: ignore[assignment]
    tree_sitter_typescript = None  # type: ignore[assignment]


def available() -> bool:
    """Whether tree-sitter and the TypeScript grammars are importable."""
    return tree_sitter is not None


@functools.cache
def _language(tsx: bool) -> Any:
    raw = tree_sitter_typescript.language_tsx() if tsx else tree_sitter_typescript.language_typescript()
    return tree_sitter.Language(raw)


@functools.cache
def _parser(tsx: bool) -> Any:
    return tree_sitter.Parser(_language(tsx))


@functools.cache
def _query(tsx: bool, source: str) -> Any:
    return tree_sitter.Query(_language(tsx), source)


def _captures(tsx: bool, source: str, node: Any) -> list[Any]:
    found = tree_sitter.QueryCursor(_query(tsx, source)).captures(node)
    return [n for nodes in found.values() for n in nodes]


class _Exporter:
    """Turns export statements into symbols, looking local names up among the file's units."""

    def __init__(self, reader: Reader, mod: ParsedModule, nodes: dict[str, Any]) -> None:
        self.reader, self.mod, self.nodes = reader, mod, nodes

    def local(self, name: str, exported: str, line: int, default: bool = False, typed: bool = False) -> None:
        unit = self.mod.units.get(name)
        if unit is not None:
            kind = "type" if typed else unit.kind
            sig = signature(exported, unit, self.nodes.get(name))
            self.mod.exports.append(Symbol(exported, kind, unit.line, sig, default=default))
        elif name in self.mod.bindings:
            source = self.mod.bindings[name][0]
            self.mod.exports.append(
                Symbol(exported, "reexport", line, exported, source=source, default=default)
            )
        else:
            self.mod.exports.append(
                Symbol(exported, "type" if typed else "const", line, exported, default=default)
            )

    def statement(self, stmt: Any) -> None:
        line = stmt.start_point[0] + 1
        default = any(c.type == "default" for c in stmt.children)
        typed = any(c.type == "type" for c in stmt.children)
        decl, value = stmt.child_by_field_name("declaration"), stmt.child_by_field_name("value")
        source = string(stmt.child_by_field_name("source")) if stmt.child_by_field_name("source") else ""
        if decl is not None:
            for name in declarators(decl):
                self.local(name, name, line, default=default)
            return
        if value is not None:  # export default <expression>
            if value.type == "identifier":
                self.local(text(value), text(value), line, default=True)
                return
            name_node = value.child_by_field_name("name")
            name = text(name_node) if name_node is not None else "default"
            unit = self.reader.value_unit(name, value, line)
            self.mod.units.setdefault(name, unit)
            self.mod.exports.append(Symbol(name, unit.kind, line, signature(name, unit, value), default=True))
            return
        for c in stmt.children:
            if c.type == "export_clause":
                for spec in (x for x in c.children if x.type == "export_specifier"):
                    name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                    if name is None:
                        continue
                    exported = text(alias or name)
                    if source:
                        self.mod.exports.append(Symbol(exported, "reexport", line, exported, source=source))
                    else:
                        self.local(text(name), exported, line, typed=typed)
            elif c.type == "namespace_export":
                ident = next((x for x in c.children if x.type == "identifier"), None)
                if ident is not None:
                    self.mod.exports.append(
                        Symbol(text(ident), "namespace", line, text(ident), source=source)
                    )
            elif c.type == "*" and source:
                self.mod.star_sources.append(source)

    def commonjs(self, stmt: Any) -> None:
        """``module.exports = {a, b}``, ``module.exports = x``, ``exports.x = …``."""
        expr = stmt.named_children[0] if stmt.named_child_count else None
        if expr is None or expr.type != "assignment_expression":
            return
        left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
        target = text(left) if left is not None else ""
        line = stmt.start_point[0] + 1
        if target == "module.exports" and right is not None:
            if right.type == "object":
                for p in right.named_children:
                    if p.type == "shorthand_property_identifier":
                        self.local(text(p), text(p), line)
                    elif p.type == "pair" and (key := p.child_by_field_name("key")) is not None:
                        val = p.child_by_field_name("value")
                        if val is not None and val.type == "identifier":
                            self.local(text(val), string(key), line)
                        else:
                            self.add_value(string(key), val, line)
            elif right.type == "identifier":
                self.local(text(right), text(right), line, default=True)
            else:
                self.add_value("default", right, line, default=True)
        elif target.startswith(("exports.", "module.exports.")) and right is not None:
            self.add_value(target.rsplit(".", 1)[1], right, line)

    def add_value(self, name: str, value: Any | None, line: int, default: bool = False) -> None:
        unit = self.reader.value_unit(name, value, line)
        self.mod.units.setdefault(name, unit)
        self.mod.exports.append(Symbol(name, unit.kind, line, signature(name, unit, None), default=default))


def parse_module(code: str, suffix: str) -> ParsedModule | None:
    """The parsed module, or None without tree-sitter (the caller falls back to regexes)."""
    if not available():
        return None
    tsx = suffix != ".ts"
    src = code.encode("utf-8")
    root = _parser(tsx).parse(src).root_node
    clean = bytearray(src)
    for node in _captures(tsx, "(comment) @c", root):
        for i in range(node.start_byte, node.end_byte):
            if clean[i] != 0x0A:
                clean[i] = 0x20
    jsx = (
        sorted(n.start_byte for n in _captures(tsx, "[(jsx_element) (jsx_self_closing_element)] @j", root))
        if tsx
        else []
    )
    reader = Reader(src, bytes(clean), jsx)
    mod = ParsedModule(bytes(clean).decode("utf-8", "replace"))
    nodes: dict[str, Any] = {}
    for stmt in root.children:  # pass 1: definitions and imports (exports may name later definitions)
        decl = stmt.child_by_field_name("declaration") if stmt.type == "export_statement" else stmt
        if stmt.type == "import_statement":
            read_import(stmt, mod)
        elif decl is not None and (decl.type in FUNCTION_DECLS | CLASS_DECLS | TYPE_DECLS | VAR_DECLS):
            if decl.type in VAR_DECLS:
                read_require(decl, mod)
            for unit in reader.units(decl):
                mod.units.setdefault(unit.name, unit)
            nodes.update(declarators(decl))
    exporter = _Exporter(reader, mod, nodes)
    for stmt in root.children:  # pass 2: what the file exports
        if stmt.type == "export_statement":
            exporter.statement(stmt)
        elif stmt.type == "expression_statement":
            exporter.commonjs(stmt)
    seen: set[str] = set()
    unique = []
    for s in sorted(mod.exports, key=lambda s: (s.line, s.name)):
        if s.name not in seen:
            seen.add(s.name)
            unique.append(s)
    mod.exports = unique
    return mod
