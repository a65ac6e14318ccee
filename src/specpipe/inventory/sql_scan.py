"""SQL migrations and Prisma schemas -> tables with columns, and storage buckets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from specpipe.inventory.files import SourceFile

CREATE = re.compile(
    r"\bcreate\s+(?:(?:global\s+|local\s+)?(?:temp|temporary|unlogged)\s+)?table\s+(?:if\s+not\s+exists\s+)?"
    r"([\w.\"]+)\s*\(",
    re.IGNORECASE,
)
ALTER = re.compile(
    r"\balter\s+table\s+(?:only\s+)?(?:if\s+exists\s+)?(?:only\s+)?([\w.\"]+)\s+([^;]*)", re.IGNORECASE
)
ADD_COLUMN = re.compile(r"^add\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?\"?(\w+)\"?", re.IGNORECASE)
DROP_COLUMN = re.compile(r"^drop\s+(?:column\s+)?(?:if\s+exists\s+)?\"?(\w+)\"?", re.IGNORECASE)
RENAME_COLUMN = re.compile(r"^rename\s+(?:column\s+)?\"?(\w+)\"?\s+to\s+\"?(\w+)\"?", re.IGNORECASE)
BUCKET = re.compile(
    r"insert\s+into\s+storage\.buckets\b[^;]*?values\s*\(\s*'([\w-]+)'", re.IGNORECASE | re.DOTALL
)
CONSTRAINT_WORDS = frozenset({"constraint", "primary", "foreign", "unique", "check", "exclude", "like"})
PRISMA_MODEL = re.compile(r"^model\s+(\w+)\s*\{(.*?)^\}", re.MULTILINE | re.DOTALL)
COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _table_name(raw: str) -> str:
    """``public."Reports"`` -> ``Reports``; the schema is dropped (``public`` is the usual one)."""
    return raw.replace('"', "").split(".")[-1]


def _split_top_level(body: str) -> list[str]:
    """Split on commas outside parentheses."""
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
    return parts


def _columns(body: str) -> list[str]:
    """Column names of a CREATE TABLE body (split on top-level commas, constraints skipped)."""
    cols = []
    for part in _split_top_level(body):
        words = part.split()
        if words and words[0].lower() not in CONSTRAINT_WORDS:
            cols.append(words[0].strip('"'))
    return cols


@dataclass(frozen=True)
class ColumnChange:
    """An ALTER TABLE action on a column: ``add``, ``drop`` or ``rename`` (``new`` is the new name)."""

    table: str
    action: str
    column: str
    new: str
    line: int


def _alter_changes(text: str, f: SourceFile) -> list[ColumnChange]:
    out = []
    for m in ALTER.finditer(text):
        table, line = _table_name(m.group(1)), f.line_of(m.start())
        for action in (a.strip() for a in _split_top_level(m.group(2))):
            if (a := ADD_COLUMN.match(action)) and a.group(1).lower() not in CONSTRAINT_WORDS:
                out.append(ColumnChange(table, "add", a.group(1), "", line))
            elif (d := DROP_COLUMN.match(action)) and d.group(1).lower() not in CONSTRAINT_WORDS:
                out.append(ColumnChange(table, "drop", d.group(1), "", line))
            elif (r := RENAME_COLUMN.match(action)) and r.group(1).lower() != "constraint":
                out.append(ColumnChange(table, "rename", r.group(1), r.group(2), line))
    return out


@dataclass
class SqlFile:
    """Tables a SQL file creates (name, columns, line), its column changes, and buckets it inserts."""

    tables: list[tuple[str, list[str], int]] = field(default_factory=list)
    changes: list[ColumnChange] = field(default_factory=list)
    buckets: list[tuple[str, int]] = field(default_factory=list)


def scan_sql(f: SourceFile) -> SqlFile:
    """What one SQL file defines."""
    text = COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), f.text)  # keep offsets, drop comments
    out = SqlFile()
    for m in CREATE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        out.tables.append((_table_name(m.group(1)), _columns(text[m.end() : i - 1]), f.line_of(m.start())))
    out.changes = _alter_changes(text, f)
    out.buckets = [(m.group(1), f.line_of(m.start())) for m in BUCKET.finditer(text)]
    return out


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
