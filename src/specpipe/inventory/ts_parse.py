"""Exports and imports of JS/TS files read with tree-sitter (the TypeScript/TSX grammars).

A real parser ignores commented-out code and reads parameter lists with nested parentheses
(``f(a = g())``) that the regex fallback in js_scan cuts short. When tree-sitter is not installed,
``parse_declarations`` returns None and js_scan uses its regexes.
"""

from __future__ import annotations

import functools
from typing import Any

from specpipe.inventory.symbols import Symbol

try:  # pinned in pyproject; optional so the scan still works where the wheels are missing
    import tree_sitter
    import tree_sitter_typescript
except ImportError:  # pragma: no cover - exercised only without the wheels
    tree_sitter = None  # type: ignore[assignment]
    tree_sitter_typescript = None  # type: ignore[assignment]

FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
DECLARATION_KIND = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "type_alias_declaration": "type",
    "interface_declaration": "type",
    "enum_declaration": "type",
}


def available() -> bool:
    """Whether tree-sitter and the TypeScript grammars are importable."""
    return tree_sitter is not None


@functools.cache
def _parser(tsx: bool) -> Any:
    lang = tree_sitter_typescript.language_tsx() if tsx else tree_sitter_typescript.language_typescript()
    return tree_sitter.Parser(tree_sitter.Language(lang))


def _text(node: Any) -> str:
    return str(node.text.decode("utf-8", "replace"))


def _params(node: Any | None) -> str:
    """``(a: string, b = g())`` -> ``a: string, b = g()``, whitespace collapsed."""
    if node is None:
        return ""
    raw = _text(node)
    if raw.startswith("(") and raw.endswith(")"):
        raw = raw[1:-1]
    return " ".join(raw.split())


def _is_async(node: Any) -> bool:
    return any(c.type == "async" for c in node.children)


def _function_symbol(name: str, fn: Any, line: int) -> Symbol:
    params = fn.child_by_field_name("parameters") or fn.child_by_field_name("parameter")
    prefix = "async " if _is_async(fn) else ""
    return Symbol(name, "function", line, f"{prefix}{name}({_params(params)})")


def _exports(stmt: Any) -> list[Symbol]:
    line = stmt.start_point[0] + 1
    decl = stmt.child_by_field_name("declaration")
    if decl is None:  # export default function () {}, export { a, b }, export * from
        return []
    if decl.type in DECLARATION_KIND:
        name_node = decl.child_by_field_name("name")
        if name_node is None:
            return []
        name = _text(name_node)
        if DECLARATION_KIND[decl.type] == "function":
            return [_function_symbol(name, decl, line)]
        return [Symbol(name, DECLARATION_KIND[decl.type], line, name)]
    out = []
    if decl.type in ("lexical_declaration", "variable_declaration"):
        for var in (c for c in decl.children if c.type == "variable_declarator"):
            name_node, value = var.child_by_field_name("name"), var.child_by_field_name("value")
            if name_node is None or name_node.type != "identifier":
                continue  # export const { a, b } = ... destructuring: nothing to call by one name
            name = _text(name_node)
            if value is not None and value.type in FUNCTION_VALUES:
                out.append(_function_symbol(name, value, line))
            else:
                out.append(Symbol(name, "const", line, name))
    return out


def parse_declarations(text: str, suffix: str) -> tuple[list[Symbol], list[str]] | None:
    """(exported symbols in file order, imported module specifiers) or None without tree-sitter."""
    if not available():
        return None
    tree = _parser(suffix != ".ts").parse(text.encode("utf-8"))
    exports: list[Symbol] = []
    imports: set[str] = set()
    for stmt in tree.root_node.children:
        if stmt.type in ("import_statement", "export_statement"):
            source = stmt.child_by_field_name("source")
            if source is not None:
                imports.add(_text(source).strip("'\"`"))
        if stmt.type == "export_statement":
            exports.extend(_exports(stmt))
    return sorted(exports, key=lambda s: (s.line, s.name)), sorted(imports)
