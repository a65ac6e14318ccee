"""SQL migrations and Prisma schemas -> tables with columns, and storage buckets."""

from __future__ import annotations

import re

from specpipe.inventory.files import SourceFile

CREATE = re.compile(r"\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?([\w.\"]+)\s*\(", re.IGNORECASE)
ALTER_ADD = re.compile(
    r"\balter\s+table\s+(?:only\s+)?(?:if\s+exists\s+)?([\w.\"]+)\s+add\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?"
    r"\"?(\w+)\"?",
    re.IGNORECASE,
)
BUCKET = re.compile(
    r"insert\s+into\s+storage\.buckets\b[^;]*?values\s*\(\s*'([\w-]+)'", re.IGNORECASE | re.DOTALL
)
CONSTRAINT_WORDS = frozenset({"constraint", "primary", "foreign", "unique", "check", "exclude", "like"})
PRISMA_MODEL = re.compile(r"^model\s+(\w+)\s*\{(.*?)^\}", re.MULTILINE | re.DOTALL)
COMMENT = re.compile(r"--[^\n]*")


def _table_name(raw: str) -> str:
    """``public."Reports"`` -> ``Reports``; the schema is dropped (``public`` is the usual one)."""
    return raw.replace('"', "").split(".")[-1]


def _columns(body: str) -> list[str]:
    """Column names of a CREATE TABLE body (split on top-level commas, constraints skipped)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    cols = []
    for part in parts:
        words = part.split()
        if words and words[0].lower() not in CONSTRAINT_WORDS:
            cols.append(words[0].strip('"'))
    return cols


def scan_sql(f: SourceFile) -> tuple[list[tuple[str, list[str], int]], list[tuple[str, int]]]:
    """(tables with columns and line, buckets with line) defined in one SQL file."""
    text = COMMENT.sub(lambda m: " " * len(m.group(0)), f.text)  # keep offsets, drop comments
    tables: list[tuple[str, list[str], int]] = []
    for m in CREATE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        tables.append((_table_name(m.group(1)), _columns(text[m.end() : i - 1]), f.line_of(m.start())))
    for m in ALTER_ADD.finditer(text):
        if m.group(2).lower() not in CONSTRAINT_WORDS:
            tables.append((_table_name(m.group(1)), [m.group(2)], f.line_of(m.start())))
    buckets = [(m.group(1), f.line_of(m.start())) for m in BUCKET.finditer(text)]
    return tables, buckets


def scan_prisma(f: SourceFile) -> list[tuple[str, list[str], int]]:
    """Models of a Prisma schema as tables (field names as columns; relation lists included)."""
    out = []
    for m in PRISMA_MODEL.finditer(f.text):
        cols = [
            line.split()[0]
            for line in m.group(2).splitlines()
            if line.strip() and not line.strip().startswith(("@@", "//"))
        ]
        out.append((m.group(1), cols, f.line_of(m.start())))
    return out
