"""Reading tree-sitter nodes of a JS/TS file: definitions with their code, imports, signatures."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from specpipe.inventory.symbols import Symbol, Unit

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


def text(node: Any) -> str:
    """The source text of a node."""
    return str(node.text.decode("utf-8", "replace"))


def string(node: Any | None) -> str:
    """A string literal node without its quotes (empty for None)."""
    return text(node).strip("'\"`") if node is not None else ""


class Reader:
    """Turns the top-level nodes of one parsed file into units, comments blanked."""

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
                out.append((string(name_node), c.start_point[0] + 1, self.body(fn)))
        return tuple(out)

    def units(self, decl: Any) -> list[Unit]:
        """The definitions one top-level declaration makes."""
        line = decl.start_point[0] + 1
        name_node = decl.child_by_field_name("name")
        if decl.type in FUNCTION_DECLS and name_node is not None:
            return [Unit(text(name_node), "function", line, self.body(decl), (), self.has_jsx(decl))]
        if decl.type in CLASS_DECLS and name_node is not None:
            body = decl.child_by_field_name("body")
            members = self.members(body) if body is not None else ()
            return [Unit(text(name_node), "class", line, self.body(decl), members, self.has_jsx(decl))]
        if decl.type in TYPE_DECLS and name_node is not None:
            return [Unit(text(name_node), "type", line, "")]
        out = []
        if decl.type in VAR_DECLS:
            for var in (c for c in decl.children if c.type == "variable_declarator"):
                var_name, value = var.child_by_field_name("name"), var.child_by_field_name("value")
                if var_name is None or var_name.type != "identifier":
                    continue  # destructuring: nothing to call by one name
                out.append(self.value_unit(text(var_name), value, var.start_point[0] + 1))
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


def params(node: Any | None) -> str:
    """``(a: string, b = g())`` -> ``a: string, b = g()``, whitespace collapsed."""
    if node is None:
        return ""
    raw = text(node)
    if raw.startswith("(") and raw.endswith(")"):
        raw = raw[1:-1]
    return " ".join(raw.split())


def signature(name: str, unit: Unit, node: Any | None) -> str:
    """A one-line signature: ``async f(a, b)``, ``class X { m(), n() }``, ``obj { m() }``, ``name``."""
    if unit.kind == "function" and node is not None:
        fn = node
        if node.type == "variable_declarator":
            fn = node.child_by_field_name("value")
        plist = fn.child_by_field_name("parameters") or fn.child_by_field_name("parameter")
        prefix = "async " if any(c.type == "async" for c in fn.children) else ""
        return f"{prefix}{name}({params(plist)})"
    if unit.kind in ("class", "object") and unit.members:
        shown = ", ".join(f"{m[0]}()" for m in unit.members[:MAX_MEMBERS_SHOWN] if m[0] != "constructor")
        more = ", …" if len(unit.members) > MAX_MEMBERS_SHOWN else ""
        return f"{'class ' if unit.kind == 'class' else ''}{name} {{ {shown}{more} }}"
    return f"class {name}" if unit.kind == "class" else name


def declarators(decl: Any) -> dict[str, Any]:
    """Name -> the node that defines it (the function/class node, or the variable declarator)."""
    name_node = decl.child_by_field_name("name")
    if name_node is not None and decl.type not in VAR_DECLS:
        return {text(name_node): decl}
    out: dict[str, Any] = {}
    for var in (c for c in decl.children if c.type == "variable_declarator"):
        target = var.child_by_field_name("name")
        if target is None:
            continue
        if target.type == "identifier":
            out[text(target)] = var
        else:  # export const { a, b: c } = …, export const [x, y] = …: each bound name is exported
            stack = [target]
            while stack:
                n = stack.pop()
                if n.type in ("identifier", "shorthand_property_identifier_pattern"):
                    out[text(n)] = var
                elif n.type == "pair_pattern":
                    if (v := n.child_by_field_name("value")) is not None:
                        stack.append(v)
                else:
                    stack.extend(n.named_children)
    return out


def read_import(stmt: Any, mod: ParsedModule) -> None:
    """Record the bindings of one import statement."""
    source = string(stmt.child_by_field_name("source"))
    clause = next((c for c in stmt.children if c.type == "import_clause"), None)
    if clause is None:
        return
    for c in clause.children:
        if c.type == "identifier":
            mod.bindings[text(c)] = (source, "default")
        elif c.type == "namespace_import":
            ident = next((x for x in c.children if x.type == "identifier"), None)
            if ident is not None:
                mod.bindings[text(ident)] = (source, "*")
        elif c.type == "named_imports":
            for spec in (x for x in c.children if x.type == "import_specifier"):
                name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                if name is not None:
                    mod.bindings[text(alias or name)] = (source, text(name))


def read_require(decl: Any, mod: ParsedModule) -> None:
    """``const { a, b } = require('x')`` and ``const x = require('x')`` as import bindings."""
    for var in (c for c in decl.children if c.type == "variable_declarator"):
        value, target = var.child_by_field_name("value"), var.child_by_field_name("name")
        if value is None or target is None or value.type != "call_expression":
            continue
        fn, args = value.child_by_field_name("function"), value.child_by_field_name("arguments")
        if fn is None or text(fn) != "require" or args is None or args.named_child_count != 1:
            continue
        source = string(args.named_children[0])
        if target.type == "identifier":
            mod.bindings[text(target)] = (source, "default")
        elif target.type == "object_pattern":
            for p in target.named_children:
                if p.type == "shorthand_property_identifier_pattern":
                    mod.bindings[text(p)] = (source, text(p))
