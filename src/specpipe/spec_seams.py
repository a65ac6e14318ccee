"""Seams that LLM chunk merging leaves in a spec: unclosed code fences, restarted sections, cut lines.

A spec written by an LLM in chunks and stitched together shows typical defects: a code block cut
off before its closing fence (so the next requirement or section heading would be read as code),
a section that starts over part-way (its first headings repeated, often right after a line cut
mid-word), and sections or requirements out of order. The parser calls these checks and turns
what they find into ``ParseIssue``s, so ``validate`` reports each with its line.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from specpipe.spec_model import Heading, ParseIssue

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
# Fences that hold markdown on purpose (an example spec) never close at a heading.
MARKDOWN_INFO = {"md", "markdown", "text/markdown"}
# A prose line that ends like this is complete; anything else right before a seam was probably cut.
COMPLETE_END = re.compile(r"""[.!?:;,)\]}>"'`*|_]\s*$""")


@dataclass
class Unclosed:
    """A fence opened at ``line`` that a section or requirement heading closed implicitly."""

    line: int
    closed_by: int  # the heading line that closed it; 0 when it runs to the end of the file
    swallowed: list[int] = field(default_factory=list)  # headings a strict reading would hide


def _strict(lines: list[str]) -> list[bool]:
    mask: list[bool] = []
    fence: str | None = None
    for line in lines:
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
            mask.append(fence is not None)
        else:
            mask.append(True)
            if _closes(m, line, fence):
                fence = None
    return mask


def _closes(m: re.Match[str] | None, line: str, fence: str) -> bool:
    """A fence closes on the same character, at least as long, with nothing else after it."""
    return bool(
        m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end(1) :].strip()
    )


def scan_fences(lines: list[str], anchor: Callable[[str], str | None]) -> tuple[list[bool], list[Unclosed]]:
    """Code mask where a section or requirement heading closes an open fence; and the fences it closed.

    ``anchor`` gives a heading's identity (section number, requirement id) when it is a section or
    requirement heading. Such a heading inside a fence closes the fence only when (a) its level is
    one where the strict reading found anchors outside code, so a ``# comment`` in a shell block
    stays code, and (b) nothing outside code already has that identity: a block that quotes an
    existing heading is an example, a block that hides the only ``FR-1.2`` heading is a seam.
    """
    strict = _strict(lines)
    levels = set()
    known = set()
    for i, line in enumerate(lines):
        if not strict[i] and (m := HEADING.match(line)) and (key := anchor(m.group(2))):
            levels.add(len(m.group(1)))
            known.add(key)
    mask: list[bool] = []
    found: list[Unclosed] = []
    fence: str | None = None
    info = ""
    opened = 0
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence, info, opened = m.group(1), m.group(2).lower(), i + 1
            mask.append(fence is not None)
            continue
        h = HEADING.match(line)
        if (
            h
            and info not in MARKDOWN_INFO
            and (not levels or len(h.group(1)) in levels)
            and (key := anchor(h.group(2)))
            and key not in known
        ):
            found.append(Unclosed(opened, i + 1))
            fence = None
            mask.append(False)
            continue
        mask.append(True)
        if _closes(m, line, fence):
            fence = None
    if fence is not None:
        found.append(Unclosed(opened, 0))
    for k, u in enumerate(found):
        stop = found[k + 1].line if k + 1 < len(found) else len(lines) + 1
        u.swallowed = [
            n + 1
            for n in range(max(u.closed_by - 1, 0), stop - 1)
            if strict[n] and not mask[n] and HEADING.match(lines[n])
        ]
    return mask, found


def fence_issues(found: list[Unclosed], lines: list[str]) -> list[ParseIssue]:
    """UNCLOSED_FENCE at each opening line, naming the headings the fence would have swallowed."""
    out = []
    for u in found:
        if not u.closed_by:
            out.append(ParseIssue("UNCLOSED_FENCE", u.line, "code fence is never closed (runs to the end)"))
            continue
        names = ", ".join(f"line {n} {lines[n - 1].strip()[:50]!r}" for n in u.swallowed[:4])
        more = f" and {len(u.swallowed) - 4} more" if len(u.swallowed) > 4 else ""
        msg = (
            f"code fence is not closed before the heading at line {u.closed_by}; "
            f"closed there; read as headings: {names}{more}"
        )
        out.append(ParseIssue("UNCLOSED_FENCE", u.line, msg))
        out.extend(cut_line(lines, u.closed_by))
    return out


def cut_line(lines: list[str], seam: int) -> list[ParseIssue]:
    """CUT_LINE when the last non-blank line before a seam stops mid-sentence (no closing punctuation)."""
    n = seam - 1
    while n > 0 and not lines[n - 1].strip():
        n -= 1
    if n <= 0:
        return []
    text = lines[n - 1].strip()
    if HEADING.match(text) or FENCE.match(text) or COMPLETE_END.search(text) or not text[-1:].isalnum():
        return []
    msg = f"line ends mid-sentence ({text[-30:]!r}) right before a seam at line {seam}: text was cut?"
    return [ParseIssue("CUT_LINE", n, msg)]


def restart_issues(
    spans: list[tuple[str, int, int]], headings: list[Heading], lines: list[str]
) -> list[ParseIssue]:
    """SECTION_RESTART where a section's first two sub-headings appear again, in order, later in it.

    ``spans`` are (section id, first line, last line). A section that starts over is a chunk seam:
    the text before the repeat is usually cut, so the line just before it is checked too.
    """
    out: list[ParseIssue] = []
    for sid, start, end in spans:
        inner = [h for h in headings if start < h.line <= end]
        if len(inner) < 3:
            continue
        first = (inner[0].level, inner[0].text), (inner[1].level, inner[1].text)
        for a, b in itertools.pairwise(inner[2:]):
            if ((a.level, a.text), (b.level, b.text)) == first:
                msg = f"{sid} starts over at line {a.line}: {a.text!r} repeats line {inner[0].line}"
                out.append(ParseIssue("SECTION_RESTART", a.line, msg))
                out.extend(cut_line(lines, a.line))
                break
    return out


def id_key(rid: str) -> tuple[int, ...]:
    """``FR-1.10`` -> (1, 10), so ids compare by number, not as text."""
    return tuple(int(x) for x in re.findall(r"\d+", rid))


def order_issues(ordered: list[tuple[str, str, int]], code: str, what: str) -> list[ParseIssue]:
    """``code`` for each item (id, sort key, line), in file order, whose key is below one before it."""
    out = []
    high: tuple[str, str] | None = None
    for ident, key, line in ordered:
        if high is not None and key < high[1]:
            out.append(ParseIssue(code, line, f"{what} {ident} comes after {high[0]} (out of order)"))
        elif high is None or key > high[1]:
            high = (ident, key)
    return out
