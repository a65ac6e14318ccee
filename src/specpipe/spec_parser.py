"""Code-fence-aware parser for structured markdown specs.

Accepts ``## SECTION n: Title`` and its variants (``### Section n - Title``, ``SECTION 3b``,
``SECTION X1``, a trailing `` - INTEGRATED``), requirement ids of two or three levels (FR-4.2,
FR-1.1.1, NFR-2.1), and keeps the preamble (global decisions) and the appendices apart from the
sections. A ``#`` line inside a fenced code block is never a heading.
"""

from __future__ import annotations

import re
from pathlib import Path

from specpipe.spec_model import Block, Heading, ParseIssue, Requirement, Section, Spec
from specpipe.spec_seams import fence_issues, id_key, order_issues, restart_issues, scan_fences
from specpipe.text_input import read_text

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
SECTION = re.compile(
    r"^SECTION\s+(E?\d+[a-z]?|X\d+)\b\s*(?:[:.\-–—]\s*(.*?))?(?:\s+-\s+INTEGRATED)?\s*$", re.IGNORECASE
)
END_OF_SECTION = re.compile(r"^END\s+OF\s+SECTION\b", re.IGNORECASE)
REQ_ID = r"N?FR-\d+(?:\.\d+){1,2}"
REQ_MENTION = re.compile(rf"\b({REQ_ID})(?!\.?\d)")
REQ_HEADING = re.compile(rf"^(?:\*\*)?({REQ_ID})(?:\*\*)?\s*[:.\-–—]?\s*(.*?)\s*$")
REQ_LEAD = re.compile(rf"^(\s*)(?:[-*+]\s+)?\*\*({REQ_ID})(?::\s*([^*]*?))?\*\*:?\s*(.*)$")
ORDER_COMMENT = re.compile(r"^\s*<!--\s*order:\s*([\w.\-]+)\s*-->\s*$")
TYPE_LINE = re.compile(r"^\s*[-*]?\s*\*\*Type\*\*:?\s*(.+?)\s*$")
ACCEPTANCE = re.compile(r"^\s*(?:#{1,6}\s*)?\**\s*Acceptance Criteria\b.*$", re.IGNORECASE)
LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+(?:\[[ xX]\]\s*)?(?:✅\s*)?(.*\S)\s*$")


def anchor_key(text: str) -> str | None:
    """A section or requirement heading's identity (``S:3``, ``FR-1.2``); None for other headings."""
    if m := SECTION.match(text):
        return "S:" + m.group(1).lower()
    if (m := REQ_HEADING.match(text)) and REQ_MENTION.match(text):
        return m.group(1)
    return None


def code_mask(lines: list[str]) -> list[bool]:
    """For each line, whether it belongs to a fenced code block (fence lines included).

    A fence left open by a chunk seam ends at the next section or requirement heading, so that
    heading and everything after it are read as the spec, not as code.
    """
    return scan_fences(lines, anchor_key)[0]


def section_identity(token: str) -> tuple[str, str]:
    """Map a section number token to (id, default ordering key): 3 -> E03/003, 3b -> E03b/003b, X1 -> X01/X001."""
    token = token.upper() if token[:1].lower() == "x" else token
    if token.startswith("X"):
        n = int(token[1:])
        return f"X{n:02d}", f"X{n:03d}"
    m = re.fullmatch(r"[Ee]?(\d+)([a-z]?)", token)
    if not m:
        raise ValueError(f"not a section number: {token!r}")
    n, suffix = int(m.group(1)), m.group(2)
    return f"E{n:02d}{suffix}", f"{n:03d}{suffix}"


def parse_spec_file(path: str | Path) -> Spec:
    """Read and parse a spec file."""
    p = Path(path)
    return parse_spec(read_text(p), str(path))


def parse_spec(text: str, path: str = "<spec>") -> Spec:
    """Parse spec markdown into sections, requirements, preamble and appendices."""
    lines = text.splitlines()
    mask, unclosed = scan_fences(lines, anchor_key)
    headings: list[Heading] = []
    for i, line in enumerate(lines):
        if not mask[i] and (m := HEADING.match(line)):
            headings.append(Heading(len(m.group(1)), m.group(2), i + 1))
    title = next((h.text for h in headings if h.level == 1), Path(path).stem)
    candidates = [h for h in headings if SECTION.match(h.text)]
    # Sections are the candidates at the shallowest level, so a "### Section n:" entry inside a
    # "## SECTION STRUCTURE PLAN" overview is not mistaken for the section itself.
    level = min((h.level for h in candidates), default=2)
    issues: list[ParseIssue] = fence_issues(unclosed, lines)
    sections: list[Section] = []
    appendices: list[Block] = []
    by_id: dict[str, Section] = {}
    boundaries = [h for h in headings if h.level <= level and not END_OF_SECTION.match(h.text)]
    first_line = next((h.line for h in boundaries if h.level == level and SECTION.match(h.text)), None)
    preamble_end = (first_line - 1) if first_line else len(lines)
    preamble = Block("Preamble", 1, preamble_end, "\n".join(lines[:preamble_end]).strip("\n"))
    current: Section | None = None
    for k, h in enumerate(boundaries):
        if first_line is None or h.line < first_line:
            continue
        end = (boundaries[k + 1].line - 1) if k + 1 < len(boundaries) else len(lines)
        m = SECTION.match(h.text) if h.level == level else None
        if m is None:
            current = None
            appendices.append(Block(h.text, h.line, end, "\n".join(lines[h.line - 1 : end]).rstrip()))
            continue
        sid, order = section_identity(m.group(1))
        stitle = (m.group(2) or "").strip()
        if sid in by_id:
            # A second header for a section already seen is a chunk seam: keep one section and
            # continue it, and let validate point at the duplicate.
            prev = by_id[sid]
            issues.append(
                ParseIssue("DUPLICATE_SECTION", h.line, f"{sid} header repeated (first at line {prev.line})")
            )
            if len(stitle) > len(prev.title):
                prev.title = stitle
            if current is not prev:
                issues.append(ParseIssue("SECTION_SPLIT", h.line, f"{sid} continues after other content"))
            prev.end_line = end
            prev.text = "\n".join(lines[prev.line - 1 : end]).rstrip()
            current = prev
            continue
        if h.line < len(lines) and (om := ORDER_COMMENT.match(lines[h.line])):
            order = om.group(1)
        current = Section(
            sid, m.group(1), stitle, order, h.line, end, "\n".join(lines[h.line - 1 : end]).rstrip()
        )
        sections.append(current)
        by_id[sid] = current
    _check_truncated(headings, issues)
    for s in sections:
        s.requirements = _requirements(s, lines, mask, headings, issues)
        ids = [(r.id, ".".join(f"{n:05d}" for n in id_key(r.id)), r.line) for r in s.requirements]
        issues += order_issues(sorted(ids, key=lambda x: x[2]), "REQ_ORDER", "requirement")
    issues += order_issues([(s.id, s.order_key, s.line) for s in sections], "SECTION_ORDER", "section")
    issues += restart_issues([(s.id, s.line, s.end_line) for s in sections], headings, lines)
    mentions = [
        (m.group(1), i + 1) for i, line in enumerate(lines) if not mask[i] for m in REQ_MENTION.finditer(line)
    ]
    for a in appendices:
        for h in headings:
            if a.line < h.line <= a.end_line and REQ_HEADING.match(h.text) and REQ_MENTION.match(h.text):
                issues.append(
                    ParseIssue("REQ_OUTSIDE_SECTION", h.line, f"{h.text!r} is in appendix {a.title!r}")
                )
    sections.sort(key=lambda s: s.order_key)
    return Spec(path, title, lines, preamble, sections, appendices, headings, mentions, issues)


def _check_truncated(headings: list[Heading], issues: list[ParseIssue]) -> None:
    """Flag a heading whose text is a strict prefix of a section or requirement heading (a chunk seam).

    Only section and requirement headings are compared: "### Features" next to "### Features
    Summary" is ordinary writing, a cut-off "## SECTION 7: Deploym" is not.
    """
    anchors: dict[int, set[str]] = {}
    for h in headings:
        if SECTION.match(h.text) or REQ_MENTION.match(h.text):
            anchors.setdefault(h.level, set()).add(h.text)
    for h in headings:
        longer = [
            t
            for t in anchors.get(h.level, ())
            if len(t) > len(h.text) >= 4 and t.startswith(h.text) and t[len(h.text)] not in ".0123456789"
        ]
        if longer:
            issues.append(
                ParseIssue("TRUNCATED_HEADING", h.line, f"{h.text!r} is a truncated copy of {min(longer)!r}")
            )


def _requirements(
    section: Section, lines: list[str], mask: list[bool], headings: list[Heading], issues: list[ParseIssue]
) -> list[Requirement]:
    """Requirements with bodies inside one section, in file order."""
    inner = [h for h in headings if section.line < h.line <= section.end_line]
    found: list[Requirement] = []
    covered: set[int] = set()
    for k, h in enumerate(inner):
        m = REQ_HEADING.match(h.text)
        if not m or not REQ_MENTION.match(h.text):
            continue
        nxt = next((x.line for x in inner[k + 1 :] if x.level <= h.level), section.end_line + 1)
        end = nxt - 1
        while end > h.line and not lines[end - 1].strip():
            end -= 1
        covered.update(range(h.line, end + 1))
        found.append(_make_requirement(m.group(1), m.group(2), section.id, h.line, end, lines))
    with_heading = {r.id for r in found}
    for i in range(section.line, section.end_line):
        lineno = i + 1
        if mask[i] or lineno in covered or not (m := REQ_LEAD.match(lines[i])):
            continue
        if m.group(2) in with_heading:  # a summary bullet for a requirement that has a full block
            continue
        indent = len(m.group(1))
        end = lineno
        while (
            end < section.end_line
            and lines[end].strip()
            and len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        title = (m.group(3) or m.group(4) or "").strip()
        found.append(_make_requirement(m.group(2), title, section.id, lineno, end, lines))
    found.sort(key=lambda r: r.line)
    seen: dict[str, Requirement] = {}
    for r in found:
        if r.id in seen:
            first = seen[r.id]
            msg = f"{r.id} body repeated (first at line {first.line}); the longer copy is kept"
            issues.append(ParseIssue("DUPLICATE_REQUIREMENT", r.line, msg))
            # A section that starts over usually cut the first copy short; keep the fuller one.
            if len(r.text) > len(first.text):
                seen[r.id] = r
            continue
        seen[r.id] = r
    return sorted(seen.values(), key=lambda r: r.line)


def _make_requirement(
    rid: str, title: str, section_id: str, line: int, end: int, lines: list[str]
) -> Requirement:
    body = lines[line - 1 : end]
    kind = next((m.group(1).strip("* ") for x in body if (m := TYPE_LINE.match(x))), None)
    return Requirement(
        rid, title.strip("* "), section_id, line, end, "\n".join(body), kind, _acceptance(body)
    )


def _acceptance(body: list[str]) -> list[str]:
    """The list items under an 'Acceptance Criteria' label, markers and checkboxes stripped."""
    items: list[str] = []
    inside = False
    for line in body:
        if ACCEPTANCE.match(line):
            inside = True
            continue
        if not inside:
            continue
        if m := LIST_ITEM.match(line):
            items.append(m.group(1))
        elif line.strip() and items:
            if line.startswith((" ", "\t")):
                items[-1] += " " + line.strip()
            else:
                break
        elif line.strip() and not items and line.lstrip().startswith(("#", "**")):
            break
    return items
