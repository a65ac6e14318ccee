"""Render self-contained execution prompts (markdown) from the plan and the parsed spec."""

from __future__ import annotations

import re
from pathlib import Path

from specpipe.plan_model import Plan, PromptEntry
from specpipe.spec_model import Section, Spec
from specpipe.spec_parser import HEADING, code_mask
from specpipe.templating import render
from specpipe.tokens import estimate_tokens


def demote_headings(text: str, by: int = 0, floor: int = 1) -> str:
    """Push every heading outside code fences down ``by`` levels, or further so none is above ``floor``."""
    lines = text.splitlines()
    mask = code_mask(lines)
    levels = [
        len(m.group(1)) for line, c in zip(lines, mask, strict=True) if not c and (m := HEADING.match(line))
    ]
    shift = max(by, floor - min(levels, default=floor))
    out = []
    for line, in_code in zip(lines, mask, strict=True):
        if shift and not in_code and (m := HEADING.match(line)):
            line = "#" * min(6, len(m.group(1)) + shift) + " " + m.group(2)
        out.append(line)
    return "\n".join(out)


class PromptRenderer:
    """Holds what every prompt of one spec shares: the preamble and each section's context."""

    def __init__(self, spec: Spec, spec_ref: str, blocks: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.spec_ref = spec_ref
        # Reusable context (a tool reference, a conventions file) pasted into every prompt, by file name.
        self.blocks = {
            Path(ref).name: demote_headings(text.strip(), floor=3) for ref, text in (blocks or {}).items()
        }
        lines = spec.preamble.text.splitlines()
        # The document title heads every prompt already; the rest of the preamble is the global decisions.
        body = "\n".join(line for line in lines if not re.match(r"^ {0,3}# ", line)).strip()
        self.preamble = demote_headings(body, floor=3) if body else "(the spec has no preamble)"
        self.spec_name = Path(spec_ref).name  # prompts name the file; the plan keeps the relative path
        self._context: dict[str, str] = {}
        self._sections = {s.id: s for s in spec.sections}
        self._reqs = {r.id: r for r in spec.requirements}

    def section_context(self, section: Section) -> str:
        """Section text without its heading line and without its requirement bodies."""
        if section.id not in self._context:
            taken = {n for r in section.requirements for n in range(r.line, r.end_line + 1)}
            keep = [
                self.spec.lines[n - 1]
                for n in range(section.line + 1, section.end_line + 1)
                if n not in taken
            ]
            text = re.sub(r"\n{3,}", "\n\n", "\n".join(keep)).strip()
            self._context[section.id] = demote_headings(text, floor=3)  # nested under "## Section context"
        return self._context[section.id]

    def fixed_tokens(self, section: Section) -> int:
        """Tokens every prompt of this section carries before its requirements."""
        blocks = sum(estimate_tokens(t) for t in self.blocks.values())
        return estimate_tokens(self.preamble) + blocks + estimate_tokens(self.section_context(section))

    def render(self, plan: Plan, prompt: PromptEntry) -> str:
        """The markdown of one prompt."""
        section = self._sections.get(prompt.section)
        if section is None:
            raise ValueError(f"{prompt.id}: section {prompt.section!r} is not in {self.spec_ref}")
        siblings = [p for p in plan.prompts if p.section == prompt.section]
        by_id = {p.id: p for p in plan.prompts}
        owner = {rid: p.id for p in plan.prompts for rid in p.requirements}
        providers: dict[str, str] = {}
        for p in plan.prompts:
            for item in p.provides:
                providers.setdefault(item, p.id)
                if item.startswith("route:"):
                    providers.setdefault("path:" + item.split(" ", 1)[1], p.id)
        prerequisites = []
        references = []
        for item in prompt.consumes:
            if item.startswith("requirement:"):
                rid = item.split(":", 1)[1]
                where = owner.get(rid)
                ref = self._reqs.get(rid)
                if where and ref:
                    references.append(f"{rid} ({ref.title}) is built in {where}; reuse it, see that prompt")
                else:
                    references.append(f"{rid}: no requirement body in the spec (validate reports it)")
            elif item in providers:
                prerequisites.append(f"{item} (from {providers[item]})")
        later = [p for p in plan.prompts if p.order_key > prompt.order_key]
        next_consumers = [
            f"{item} -> {p.id}"
            for p in later
            for item in p.consumes
            if providers.get(item) == prompt.id
            or (item.startswith("requirement:") and item.split(":", 1)[1] in prompt.requirements)
        ]
        return render(
            "prompt.md.j2",
            {
                "prompt": prompt,
                "section": section,
                "position": siblings.index(prompt) + 1,
                "section_total": len(siblings),
                "spec_path": self.spec_name,
                "preamble": self.preamble,
                "context_blocks": self.blocks,
                "section_context": self.section_context(section),
                "earlier": [by_id[d] for d in prompt.depends_on if d in by_id],
                "prerequisites": prerequisites,
                "requirements": [self._reqs[r] for r in prompt.requirements if r in self._reqs],
                "references": references,
                "next_consumers": next_consumers,
            },
        ).text

    def appendices(self) -> str:
        """All appendices in one document, kept apart from the sections."""
        if not self.spec.appendices:
            return f"# {self.spec.title}: appendices\n\n(none)\n"
        parts = [f"# {self.spec.title}: appendices\n"]
        for a in self.spec.appendices:
            parts.append(
                f"<!-- {self.spec_ref} lines {a.line}-{a.end_line} -->\n{demote_headings(a.text, 0)}\n"
            )
        return "\n".join(parts)
