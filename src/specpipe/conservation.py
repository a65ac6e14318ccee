"""Content conservation: a plan must carry every section, requirement body and line of its spec.

segment checks this before it writes anything. Losing a section or a requirement body silently is
the worst thing segment can do (an agent then never builds it), so a loss is an error that names
what was lost, not a warning.
"""

from __future__ import annotations

from specpipe.plan_model import Plan
from specpipe.spec_model import Spec
from specpipe.spec_parser import REQ_HEADING, REQ_MENTION


class ContentLost(ValueError):
    """The plan lost part of the spec; the message names each loss."""


def losses(spec: Spec, plan: Plan) -> list[str]:
    """What of ``spec`` the plan does not carry (empty when nothing was lost)."""
    lost: list[str] = []
    planned_sections = {s.id for s in plan.sections}
    prompted_sections = {p.section for p in plan.prompts}
    for s in spec.sections:
        if s.id not in planned_sections:
            lost.append(f"section {s.id} (line {s.line}) is not in the plan")
        elif s.id not in prompted_sections:
            lost.append(f"section {s.id} (line {s.line}) is in no prompt")
    homes: dict[str, list[str]] = {}
    for p in plan.prompts:
        for rid in p.requirements:
            homes.setdefault(rid, []).append(p.id)
    for r in spec.requirements:
        where = homes.get(r.id, [])
        if len(where) != 1:
            lost.append(f"{r.id} (line {r.line}) is in {len(where)} prompts, not exactly one")
    # Every requirement heading inside a section must have become a body somewhere.
    for s in spec.sections:
        for h in spec.headings:
            m = REQ_HEADING.match(h.text)
            if s.line < h.line <= s.end_line and m and REQ_MENTION.match(h.text) and m.group(1) not in homes:
                lost.append(f"{m.group(1)} (line {h.line}) has a heading but no prompt")
    blocks = [(spec.preamble.line, spec.preamble.end_line)]
    blocks += [(s.line, s.end_line) for s in spec.sections] + [(a.line, a.end_line) for a in spec.appendices]
    covered = bytearray(len(spec.lines) + 2)
    for start, end in blocks:
        covered[start : end + 1] = b"\x01" * (end + 1 - start)
    orphans = [n for n in range(1, len(spec.lines) + 1) if not covered[n] and spec.lines[n - 1].strip()]
    if orphans:
        lost.append(f"{len(orphans)} spec lines belong to no section or block (first at line {orphans[0]})")
    return lost


def check_conservation(spec: Spec, plan: Plan) -> None:
    """Raise ContentLost naming every loss; return quietly when the plan carries the whole spec."""
    if lost := losses(spec, plan):
        raise ContentLost(f"{spec.path}: segment would lose content: " + "; ".join(lost))
