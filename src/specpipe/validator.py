"""Checks on a spec, its plan and its rendered prompts; every finding names a file and a line.

Spec checks: requirement ids listed without a body, duplicated requirement bodies, duplicated or
truncated section headers (chunk seams), repeated headings inside a section, leftover
``{{PLACEHOLDER}}`` tokens, residual forbidden stack terms. Plan checks: dangling, self, forward
and cyclic dependencies, requirement coverage (each body in exactly one prompt), prompts over the
token budget, stale prompts, a plan older than its spec. Prompt files: leftover placeholders.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from specpipe.findings import Finding, Severity
from specpipe.forbidden_terms import find_terms
from specpipe.plan_model import Plan, prompt_field_lines, read_context
from specpipe.prompt_render import PromptRenderer
from specpipe.spec_model import Spec
from specpipe.spec_parser import REQ_HEADING, REQ_MENTION
from specpipe.text_input import InputError, read_text
from specpipe.tokens import estimate_tokens

PLACEHOLDER = re.compile(r"\{\{\s*[A-Z][A-Z0-9_]*\s*\}\}")
PARSE_SEVERITY: dict[str, Severity] = {
    "DUPLICATE_SECTION": "error",
    "TRUNCATED_HEADING": "error",
    "DUPLICATE_REQUIREMENT": "error",
    "SECTION_SPLIT": "warning",
    "REQ_OUTSIDE_SECTION": "warning",
    "UNCLOSED_FENCE": "error",
    "SECTION_RESTART": "error",
    "CUT_LINE": "warning",
    "SECTION_ORDER": "warning",
    "REQ_ORDER": "warning",
}


def validate_spec(spec: Spec, forbidden: list[str] | None = None) -> list[Finding]:
    """Findings about the spec text itself."""
    f = spec.path
    out = [Finding(f, i.line, i.code, PARSE_SEVERITY.get(i.code, "error"), i.message) for i in spec.issues]
    # A body anywhere counts (an appendix too, reported as REQ_OUTSIDE_SECTION): "no body" means none.
    bodies = {r.id for r in spec.requirements} | {
        m.group(1) for h in spec.headings if (m := REQ_HEADING.match(h.text)) and REQ_MENTION.match(h.text)
    }
    for rid, line in spec.mentions:
        if rid not in bodies:
            out.append(Finding(f, line, "REQ_NO_BODY", "error", f"{rid} is listed but no section defines it"))
    if not spec.sections:
        msg = "no section headings found (expected '## SECTION 1: Title' or '### Section 1 - Title')"
        out.append(Finding(f, 1, "NO_SECTIONS", "error", msg))
    levels = {h.line: h.level for h in spec.headings}
    for s in spec.sections:
        seen: dict[tuple[int, str], int] = {}
        # Only the section's own sub-blocks (Overview, Dependencies, ...) should be unique; deeper
        # headings such as "Acceptance Criteria" legitimately repeat once per requirement.
        block_level = levels[s.line] + 1
        for h in spec.headings:
            if s.line < h.line <= s.end_line and h.level == block_level:
                key = (h.level, h.text)
                if key in seen:
                    msg = f"heading {h.text!r} repeated in {s.id} (first at line {seen[key]}): a chunk seam?"
                    out.append(Finding(f, h.line, "DUPLICATE_HEADING", "warning", msg))
                else:
                    seen[key] = h.line
    for i, text in enumerate(spec.lines):
        for m in PLACEHOLDER.finditer(text):
            out.append(Finding(f, i + 1, "PLACEHOLDER", "error", f"leftover placeholder {m.group(0)}"))
    for hit in find_terms(spec.lines, forbidden or []):
        where = "code" if hit.in_code else "text"
        msg = f"forbidden stack term {hit.term!r} in {where}: {hit.text[:80]}"
        out.append(Finding(f, hit.line, "FORBIDDEN_TERM", "error", msg))
    return out


def validate_plan(plan: Plan, plan_path: Path, spec: Spec) -> list[Finding]:
    """Findings about the plan's graph, coverage and sizes (and its rendered prompt files)."""
    f = str(plan_path)
    lines = prompt_field_lines(plan_path)
    out: list[Finding] = []
    digest = hashlib.sha256("\n".join(spec.lines).encode()).hexdigest()
    if digest != plan.spec_sha256:
        out.append(
            Finding(f, 1, "PLAN_OUTDATED", "warning", "the spec changed since this plan; re-run segment")
        )
    out.extend(plan_structure(plan, f, lines))
    for p in plan.prompts:
        if p.status == "stale":
            msg = f"{p.id} changed after it was started or done; redo it, then mark it done"
            out.append(Finding(f, lines.get((p.id, "status"), 0), "STALE_PROMPT", "warning", msg))
    out.extend(_coverage(plan, f, lines, spec))
    for ref, text in read_context(plan, plan_path).items():
        if not text:
            msg = f"context file {ref} is missing or empty"
            out.append(Finding(f, 0, "CONTEXT_MISSING", "error", msg))
    renderer = PromptRenderer(spec, plan.spec, read_context(plan, plan_path))
    out.extend(_prompt_files(plan, plan_path, lines, renderer))
    return out


def plan_structure(plan: Plan, f: str, lines: dict[tuple[str, str], int]) -> list[Finding]:
    """Errors in the prompt graph: duplicate ids, self, dangling and forward dependencies, cycles."""
    out: list[Finding] = []
    order = {p.id: p.order_key for p in plan.prompts}
    seen_ids: set[str] = set()
    for p in plan.prompts:
        at = lines.get((p.id, "depends_on"), lines.get((p.id, "id"), 0))
        if p.id in seen_ids:
            out.append(
                Finding(f, lines.get((p.id, "id"), 0), "DUPLICATE_PROMPT", "error", f"{p.id} appears twice")
            )
        seen_ids.add(p.id)
        for d in p.depends_on:
            if d == p.id:
                out.append(Finding(f, at, "SELF_DEPENDENCY", "error", f"{p.id} depends on itself"))
            elif d not in order:
                out.append(
                    Finding(
                        f, at, "DANGLING_DEPENDENCY", "error", f"{p.id} depends on {d}, which is no prompt"
                    )
                )
            elif order[d] > p.order_key:
                out.append(
                    Finding(f, at, "FORWARD_DEPENDENCY", "error", f"{p.id} depends on later prompt {d}")
                )
    out.extend(_cycles(plan, f, lines))
    return out


def render_blockers(plan: Plan, plan_path: Path, spec: Spec) -> list[Finding]:
    """The errors that make a plan unrenderable: a broken graph, unknown sections or requirements.

    A prompt that depends on itself would list itself under "what already exists"; one that lists
    an unknown requirement would render an empty body. render refuses such a plan instead.
    """
    f = str(plan_path)
    lines = prompt_field_lines(plan_path)
    out = plan_structure(plan, f, lines)
    sections = {s.id for s in spec.sections}
    for p in plan.prompts:
        if p.section not in sections:
            msg = f"{p.id} is in section {p.section}, which the spec does not have"
            out.append(Finding(f, lines.get((p.id, "section"), 0), "UNKNOWN_SECTION", "error", msg))
    out += [
        x for x in _coverage(plan, f, lines, spec) if x.code in ("UNKNOWN_REQUIREMENT", "REQ_IN_MANY_PROMPTS")
    ]
    return out


def _cycles(plan: Plan, f: str, lines: dict[tuple[str, str], int]) -> list[Finding]:
    """One finding per distinct dependency cycle, at the first member's depends_on line."""
    graph = {p.id: [d for d in p.depends_on if d != p.id] for p in plan.prompts}
    state: dict[str, int] = {}  # 1 = on the DFS path, 2 = finished
    found: dict[frozenset[str], list[str]] = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        stack = [iter(graph[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif nxt in graph and state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                found.setdefault(frozenset(cycle), cycle)
            elif nxt in graph and not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    out = []
    for cycle in found.values():
        first = min(cycle, key=lambda pid: lines.get((pid, "depends_on"), 0))
        loop = " -> ".join([*cycle, cycle[0]])
        out.append(
            Finding(f, lines.get((first, "depends_on"), 0), "CYCLE", "error", f"dependency cycle {loop}")
        )
    return out


def _coverage(plan: Plan, f: str, lines: dict[tuple[str, str], int], spec: Spec) -> list[Finding]:
    bodies = {r.id: r for r in spec.requirements}
    homes: dict[str, list[str]] = {}
    out: list[Finding] = []
    for p in plan.prompts:
        for rid in p.requirements:
            homes.setdefault(rid, []).append(p.id)
            if rid not in bodies:
                msg = f"{p.id} lists {rid}, which has no body in the spec"
                out.append(
                    Finding(f, lines.get((p.id, "requirements"), 0), "UNKNOWN_REQUIREMENT", "error", msg)
                )
    for rid, r in bodies.items():
        where = homes.get(rid, [])
        if not where:
            msg = f"{rid} is in no prompt; re-run segment"
            out.append(Finding(spec.path, r.line, "REQ_NOT_COVERED", "error", msg))
        elif len(where) > 1:
            msg = f"{rid} is in {', '.join(where)}; a body belongs to exactly one prompt"
            out.append(
                Finding(f, lines.get((where[1], "requirements"), 0), "REQ_IN_MANY_PROMPTS", "error", msg)
            )
    return out


def _prompt_files(
    plan: Plan, plan_path: Path, lines: dict[tuple[str, str], int], renderer: PromptRenderer
) -> list[Finding]:
    out: list[Finding] = []
    for p in plan.prompts:
        path = plan_path.parent / p.file
        tokens = p.tokens
        if not path.is_file():
            msg = f"{p.id}: prompt file {p.file} is missing; run specpipe render"
            out.append(
                Finding(str(plan_path), lines.get((p.id, "file"), 0), "PROMPT_MISSING", "warning", msg)
            )
        else:
            try:
                text = read_text(path)
            except InputError as exc:
                out.append(Finding(str(path), 1, "PROMPT_UNREADABLE", "error", str(exc)))
                continue
            tokens = estimate_tokens(text)
            try:
                current = renderer.render(plan, p) == text
            except ValueError:
                current = True  # an unknown section; reported by the coverage checks, not here
            if not current:
                msg = f"{p.id}: {p.file} differs from what the plan renders (edited by hand?); run specpipe render"
                out.append(Finding(str(path), 1, "PROMPT_OUTDATED", "warning", msg))
            for i, line in enumerate(text.splitlines()):
                for m in PLACEHOLDER.finditer(line):
                    out.append(
                        Finding(
                            str(path), i + 1, "PLACEHOLDER", "error", f"leftover placeholder {m.group(0)}"
                        )
                    )
        if tokens > plan.token_budget:
            msg = f"{p.id} is about {tokens} tokens, over the budget of {plan.token_budget}; " + (
                f"it cannot be split further ({', '.join(p.requirements) or 'its section text'} alone): "
                "raise the budget or split the requirement in the spec"
                if len(p.requirements) <= 1
                else "move a requirement to another prompt (requirement boundaries) or re-run segment"
            )
            out.append(Finding(str(plan_path), lines.get((p.id, "tokens"), 0), "OVER_BUDGET", "error", msg))
    return out
