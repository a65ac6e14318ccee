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
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from specpipe.inventory.symbols import Symbol, Unit

try:  # pinned in pyproject; optional so the scan still works where the wheels are missing
    import tree_sitter
    import tree_sitter_typescript
except ImportError:  # pragma: no cover - exercised only without the wheels
    tree_sitter = None  # type: ignore[assignment]
    tree_sitter_typescript = None  # type: ignore[assignment]

FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
FUNCTION_DECLS = frozenset({"function_declaration", "generator_function_declaration"})
CLASS_DECLS = frozenset({"class_declaration", "abstract_class_declaration", "class"})
TYPE_DECLS = frozenset({"type_alias_declaration", "interface_declaration", "enum_declaration"})
VAR_DECLS = frozenset({"lexical_declaration", "variable_declaration"})
MAX_MEMBERS_SHOWN = 6


@dataclass
class ParsedModule:
    """What one JS/TS file defines, exports and imports."""

    text: str  # the source with comments blanked (same offsets and lines)
    exports: list[Symbol] = field(default_factory=list)
    bindings: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (module, imported name)
    units: dict[str, Unit] = field(default_factory=dict)
    star_sources: list[str] = field(default_factory=list)  # export * from '<module>'


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


def _text(node: Any) -> str:
    return str(node.text.decode("utf-8", "replace"))


def _string(node: Any | None) -> str:
    return _text(node).strip("'\"`") if node is not None else ""


class _Reader:
    """Walks the top level of one parsed file."""

    def __init__(self, src: bytes, clean: bytes, jsx_starts: list[int]) -> None:
        self.src = src
        self.clean = clean
        self.jsx_starts = jsx_starts

    def body(self, node: Any) -> str:
        return self.clean[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def has_jsx(self, node: Any) -> bool:
        i = bisect_left(self.jsx_starts, node.start_byte)
        return i < len(self.jsx_starts) and self.jsx_starts[i] < node.end_byte

    def members(self, node: Any) -> tuple[tuple[str, int, str], ...]:
        """Methods of a class body or an object literal: (name, line, code)."""
        out = []
        for c in node.children:
            name_node, fn = c.child_by_field_name("name") or c.child_by_field_name("key"), None
            if c.type == "method_definition":
                fn = c
            elif c.type in ("pair", "public_field_definition", "field_definition"):
                value = c.child_by_field_name("value")
                fn = value if value is not None and value.type in FUNCTION_VALUES else None
            if fn is not None and name_node is not None:
                out.append((_string(name_node), c.start_point[0] + 1, self.body(fn)))
        return tuple(out)

    def units(self, decl: Any) -> list[Unit]:
        """The definitions one top-level declaration makes."""
        line = decl.start_point[0] + 1
        name_node = decl.child_by_field_name("name")
        if decl.type in FUNCTION_DECLS and name_node is not None:
            return [Unit(_text(name_node), "function", line, self.body(decl), (), self.has_jsx(decl))]
        if decl.type in CLASS_DECLS and name_node is not None:
            body = decl.child_by_field_name("body")
            members = self.members(body) if body is not None else ()
            return [Unit(_text(name_node), "class", line, self.body(decl), members, self.has_jsx(decl))]
        if decl.type in TYPE_DECLS and name_node is not None:
            return [Unit(_text(name_node), "type", line, "")]
        out = []
        if decl.type in VAR_DECLS:
            for var in (c for c in decl.children if c.type == "variable_declarator"):
                var_name, value = var.child_by_field_name("name"), var.child_by_field_name("value")
                if var_name is None or var_name.type != "identifier":
                    continue  # destructuring: nothing to call by one name
                out.append(self.value_unit(_text(var_name), value, var.start_point[0] + 1))
        return out

    def value_unit(self, name: str, value: Any | None, line: int) -> Unit:
        if value is None:
            return Unit(name, "const", line, "")
        kind = "const"
        members: tuple[tuple[str, int, str], ...] = ()
        if value.type in FUNCTION_VALUES:
            kind = "function"
        elif value.type == "object":
            kind, members = "object", self.members(value)
        elif value.type in CLASS_DECLS:
            body = value.child_by_field_name("body")
            kind, members = "class", self.members(body) if body is not None else ()
        elif value.type == "new_expression":
            kind = "object"
        return Unit(name, kind, line, self.body(value), members, self.has_jsx(value))


def _params(node: Any | None) -> str:
    """``(a: string, b = g())`` -> ``a: string, b = g()``, whitespace collapsed."""
    if node is None:
        return ""
    raw = _text(node)
    if raw.startswith("(") and raw.endswith(")"):
        raw = raw[1:-1]
    return " ".join(raw.split())


def _signature(name: str, unit: Unit, node: Any | None) -> str:
    """A one-line signature: ``async f(a, b)``, ``class X { m(), n() }``, ``obj { m() }``, ``name``."""
    if unit.kind == "function" and node is not None:
        fn = node
        if node.type == "variable_declarator":
            fn = node.child_by_field_name("value")
        params = fn.child_by_field_name("parameters") or fn.child_by_field_name("parameter")
        prefix = "async " if any(c.type == "async" for c in fn.children) else ""
        return f"{prefix}{name}({_params(params)})"
    if unit.kind in ("class", "object") and unit.members:
        shown = ", ".join(f"{m[0]}()" for m in unit.members[:MAX_MEMBERS_SHOWN] if m[0] != "constructor")
        more = ", …" if len(unit.members) > MAX_MEMBERS_SHOWN else ""
        return f"{'class ' if unit.kind == 'class' else ''}{name} {{ {shown}{more} }}"
    return f"class {name}" if unit.kind == "class" else name


def _declarators(decl: Any) -> dict[str, Any]:
    """Name -> the node that defines it (the function/class node, or the variable declarator)."""
    name_node = decl.child_by_field_name("name")
    if name_node is not None and decl.type not in VAR_DECLS:
        return {_text(name_node): decl}
    out: dict[str, Any] = {}
    for var in (c for c in decl.children if c.type == "variable_declarator"):
        target = var.child_by_field_name("name")
        if target is None:
            continue
        if target.type == "identifier":
            out[_text(target)] = var
        else:  # export const { a, b: c } = …, export const [x, y] = …: each bound name is exported
            stack = [target]
            while stack:
                n = stack.pop()
                if n.type in ("identifier", "shorthand_property_identifier_pattern"):
                    out[_text(n)] = var
                elif n.type == "pair_pattern":
                    if (v := n.child_by_field_name("value")) is not None:
                        stack.append(v)
                else:
                    stack.extend(n.named_children)
    return out


def _import(stmt: Any, mod: ParsedModule) -> None:
    source = _string(stmt.child_by_field_name("source"))
    clause = next((c for c in stmt.children if c.type == "import_clause"), None)
    if clause is None:
        return
    for c in clause.children:
        if c.type == "identifier":
            mod.bindings[_text(c)] = (source, "default")
        elif c.type == "namespace_import":
            ident = next((x for x in c.children if x.type == "identifier"), None)
            if ident is not None:
                mod.bindings[_text(ident)] = (source, "*")
        elif c.type == "named_imports":
            for spec in (x for x in c.children if x.type == "import_specifier"):
                name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                if name is not None:
                    mod.bindings[_text(alias or name)] = (source, _text(name))


def _require(decl: Any, mod: ParsedModule) -> None:
    """``const { a, b } = require('x')`` and ``const x = require('x')`` as import bindings."""
    for var in (c for c in decl.children if c.type == "variable_declarator"):
        value, target = var.child_by_field_name("value"), var.child_by_field_name("name")
        if value is None or target is None or value.type != "call_expression":
            continue
        fn, args = value.child_by_field_name("function"), value.child_by_field_name("arguments")
        if fn is None or _text(fn) != "require" or args is None or args.named_child_count != 1:
            continue
        source = _string(args.named_children[0])
        if target.type == "identifier":
            mod.bindings[_text(target)] = (source, "default")
        elif target.type == "object_pattern":
            for p in target.named_children:
                if p.type == "shorthand_property_identifier_pattern":
                    mod.bindings[_text(p)] = (source, _text(p))


class _Exporter:
    """Turns export statements into symbols, looking local names up among the file's units."""

    def __init__(self, reader: _Reader, mod: ParsedModule, nodes: dict[str, Any]) -> None:
        self.reader, self.mod, self.nodes = reader, mod, nodes

    def local(self, name: str, exported: str, line: int, default: bool = False, typed: bool = False) -> None:
        unit = self.mod.units.get(name)
        if unit is not None:
            kind = "type" if typed else unit.kind
            sig = _signature(exported, unit, self.nodes.get(name))
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
        source = _string(stmt.child_by_field_name("source")) if stmt.child_by_field_name("source") else ""
        if decl is not None:
            for name in _declarators(decl):
                self.local(name, name, line, default=default)
            return
        if value is not None:  # export default <expression>
            if value.type == "identifier":
                self.local(_text(value), _text(value), line, default=True)
                return
            name_node = value.child_by_field_name("name")
            name = _text(name_node) if name_node is not None else "default"
            unit = self.reader.value_unit(name, value, line)
            self.mod.units.setdefault(name, unit)
            self.mod.exports.append(
                Symbol(name, unit.kind, line, _signature(name, unit, value), default=True)
            )
            return
        for c in stmt.children:
            if c.type == "export_clause":
                for spec in (x for x in c.children if x.type == "export_specifier"):
                    name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                    if name is None:
                        continue
                    exported = _text(alias or name)
                    if source:
                        self.mod.exports.append(Symbol(exported, "reexport", line, exported, source=source))
                    else:
                        self.local(_text(name), exported, line, typed=typed)
            elif c.type == "namespace_export":
                ident = next((x for x in c.children if x.type == "identifier"), None)
                if ident is not None:
                    self.mod.exports.append(
                        Symbol(_text(ident), "namespace", line, _text(ident), source=source)
                    )
            elif c.type == "*" and source:
                self.mod.star_sources.append(source)

    def commonjs(self, stmt: Any) -> None:
        """``module.exports = {a, b}``, ``module.exports = x``, ``exports.x = …``."""
        expr = stmt.named_children[0] if stmt.named_child_count else None
        if expr is None or expr.type != "assignment_expression":
            return
        left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
        target = _text(left) if left is not None else ""
        line = stmt.start_point[0] + 1
        if target == "module.exports" and right is not None:
            if right.type == "object":
                for p in right.named_children:
                    if p.type == "shorthand_property_identifier":
                        self.local(_text(p), _text(p), line)
                    elif p.type == "pair" and (key := p.child_by_field_name("key")) is not None:
                        val = p.child_by_field_name("value")
                        if val is not None and val.type == "identifier":
                            self.local(_text(val), _string(key), line)
                        else:
                            self.add_value(_string(key), val, line)
            elif right.type == "identifier":
                self.local(_text(right), _text(right), line, default=True)
            else:
                self.add_value("default", right, line, default=True)
        elif target.startswith(("exports.", "module.exports.")) and right is not None:
            self.add_value(target.rsplit(".", 1)[1], right, line)

    def add_value(self, name: str, value: Any | None, line: int, default: bool = False) -> None:
        unit = self.reader.value_unit(name, value, line)
        self.mod.units.setdefault(name, unit)
        self.mod.exports.append(Symbol(name, unit.kind, line, _signature(name, unit, None), default=default))


def parse_module(text: str, suffix: str) -> ParsedModule | None:
    """The parsed module, or None without tree-sitter (the caller falls back to regexes)."""
    if not available():
        return None
    tsx = suffix != ".ts"
    src = text.encode("utf-8")
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
    reader = _Reader(src, bytes(clean), jsx)
    mod = ParsedModule(bytes(clean).decode("utf-8", "replace"))
    nodes: dict[str, Any] = {}
    for stmt in root.children:  # pass 1: definitions and imports (exports may name later definitions)
        decl = stmt.child_by_field_name("declaration") if stmt.type == "export_statement" else stmt
        if stmt.type == "import_statement":
            _import(stmt, mod)
        elif decl is not None and (decl.type in FUNCTION_DECLS | CLASS_DECLS | TYPE_DECLS | VAR_DECLS):
            if decl.type in VAR_DECLS:
                _require(decl, mod)
            for unit in reader.units(decl):
                mod.units.setdefault(unit.name, unit)
            nodes.update(_declarators(decl))
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
