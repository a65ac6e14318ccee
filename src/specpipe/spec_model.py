"""The parsed shape of a structured spec: sections, requirements, preamble and appendices.

Line numbers are 1-based and inclusive, as an editor shows them, so findings can point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    """A markdown ATX heading outside code fences."""

    level: int
    text: str
    line: int


@dataclass
class Requirement:
    """One requirement with a body (``#### FR-1.2: Name`` or a ``**FR-2.1**:`` lead line)."""

    id: str
    title: str
    section_id: str
    line: int
    end_line: int
    text: str
    kind: str | None = None  # the spec's own ``**Type**:`` value, when it has one
    acceptance: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A contiguous run of lines: the preamble or an appendix."""

    title: str
    line: int
    end_line: int
    text: str


@dataclass
class Section:
    """One ``## SECTION n: Title`` block (ids E01, E03b, X01)."""

    id: str
    number: str
    title: str
    order_key: str
    line: int
    end_line: int
    text: str
    requirements: list[Requirement] = field(default_factory=list)


@dataclass(frozen=True)
class ParseIssue:
    """Something the parser noticed that validate reports (code, line, message)."""

    code: str
    line: int
    message: str


@dataclass
class Spec:
    """A parsed spec file. ``mentions`` holds every requirement id seen outside code, with its line."""

    path: str
    title: str
    lines: list[str]
    preamble: Block
    sections: list[Section]
    appendices: list[Block]
    headings: list[Heading]
    mentions: list[tuple[str, int]]
    issues: list[ParseIssue]

    @property
    def requirements(self) -> list[Requirement]:
        """All requirements with a body, in section order."""
        return [r for s in self.sections for r in s.requirements]
