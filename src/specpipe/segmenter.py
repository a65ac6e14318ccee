"""Deterministic segmentation of a parsed spec into a plan of execution prompts.

Inside a section, requirements go to prompts by layer (database -> api -> ui -> integration),
or into one vertical-slice prompt when the section is small; a layer that would exceed the token
budget is split. Each requirement's body lives in exactly one prompt; other prompts that name it
get a cross-reference. Prompts are numbered compactly (no gaps) and ordered by the section's
ordering key, so inserted sections (E03b, X01) land where their key says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from specpipe.artifacts import LAYERS, classify_layer, consumed, provided, referenced_requirements
from specpipe.conservation import check_conservation
from specpipe.plan_model import BlockEntry, Layer, Plan, PromptEntry, RequirementEntry, SectionEntry
from specpipe.prompt_render import PromptRenderer
from specpipe.spec_model import Requirement, Section, Spec
from specpipe.tokens import estimate_tokens

LAYER_TITLES = {
    "database": "Database",
    "api": "API",
    "ui": "UI",
    "integration": "Integration",
    "slice": "Vertical slice",
}
SCAFFOLD_TOKENS = 450  # the fixed text of the prompt template around the spec content
SLICE_MAX_REQUIREMENTS = 3


@dataclass
class Segmented:
    """A plan, the rendered prompt files (id -> markdown) and what changed against a previous plan."""

    plan: Plan
    prompts: dict[str, str]
    appendices: str
    changes: list[str] = field(default_factory=list)


@dataclass
class _Draft:
    section: Section
    layer: Layer
    title: str
    reqs: list[Requirement]


def segment(
    spec: Spec,
    *,
    budget: int,
    spec_ref: str,
    previous: Plan | None = None,
    blocks: dict[str, str] | None = None,
) -> Segmented:
    """Build the plan and render its prompts.

    ``spec_ref`` is the spec path as the plan records it; ``blocks`` maps context file references
    (relative to the plan) to their text, pasted into every prompt.
    """
    renderer = PromptRenderer(spec, spec_ref, blocks)
    layers: dict[str, Layer] = {r.id: classify_layer(r) for r in spec.requirements}
    drafts: list[_Draft] = []
    for section in spec.sections:
        fixed = renderer.fixed_tokens(section) + SCAFFOLD_TOKENS
        drafts.extend(_section_drafts(section, layers, max(budget - fixed, 1)))
    prompts = _entries(drafts, layers)
    plan = Plan(
        spec=spec_ref,
        spec_sha256=hashlib.sha256("\n".join(spec.lines).encode()).hexdigest(),
        title=spec.title,
        token_budget=budget,
        context_files=list(blocks or {}),
        preamble=BlockEntry(title="Preamble", line=spec.preamble.line, end_line=spec.preamble.end_line),
        appendices=[BlockEntry(title=a.title, line=a.line, end_line=a.end_line) for a in spec.appendices],
        sections=[
            SectionEntry(
                id=s.id,
                number=s.number,
                title=s.title,
                order_key=s.order_key,
                line=s.line,
                end_line=s.end_line,
                requirements=[r.id for r in s.requirements],
            )
            for s in spec.sections
        ],
        requirements=[],
        prompts=prompts,
    )
    owner = {rid: p.id for p in prompts for rid in p.requirements}
    plan.requirements = [
        RequirementEntry(
            id=r.id,
            title=r.title,
            section=r.section_id,
            line=r.line,
            layer=layers[r.id],
            tokens=estimate_tokens(r.text),
            prompt=owner[r.id],
        )
        for r in spec.requirements
    ]
    check_conservation(spec, plan)
    rendered = {p.id: renderer.render(plan, p) for p in prompts}
    for p in prompts:
        p.tokens = estimate_tokens(rendered[p.id])
    changes = carry_status(plan, previous) if previous else []
    return Segmented(plan, rendered, renderer.appendices(), changes)


def _section_drafts(section: Section, layers: dict[str, Layer], room: int) -> list[_Draft]:
    reqs = section.requirements
    sizes = {r.id: estimate_tokens(r.text) for r in reqs}
    if not reqs or (len(reqs) <= SLICE_MAX_REQUIREMENTS and sum(sizes.values()) <= room):
        return [_Draft(section, "slice", f"{section.title}: {LAYER_TITLES['slice']}", list(reqs))]
    drafts: list[_Draft] = []
    for layer in LAYERS:
        chunks: list[list[Requirement]] = []
        used = 0
        for r in (r for r in reqs if layers[r.id] == layer):
            if chunks and used + sizes[r.id] <= room:
                chunks[-1].append(r)
                used += sizes[r.id]
            else:  # a requirement larger than the room gets a prompt of its own; validate flags it
                chunks.append([r])
                used = sizes[r.id]
        for k, chunk in enumerate(chunks):
            part = f" (part {k + 1} of {len(chunks)})" if len(chunks) > 1 else ""
            drafts.append(_Draft(section, layer, f"{section.title}: {LAYER_TITLES[layer]}{part}", chunk))
    return drafts


def _entries(drafts: list[_Draft], layers: dict[str, Layer]) -> list[PromptEntry]:
    """Order and number the drafts, then link them by artifacts and requirement references."""
    drafts = _dependency_order(drafts, layers)
    counters: dict[str, int] = {}
    ids: list[str] = []
    for d in drafts:
        counters[d.section.id] = counters.get(d.section.id, 0) + 1
        ids.append(f"{d.section.id}-P{counters[d.section.id]:02d}")
    provides = [_provides(d, layers) for d in drafts]
    provider = _provider_index(provides)
    req_home = {r.id: k for k, d in enumerate(drafts) for r in d.reqs}
    entries: list[PromptEntry] = []
    for k, d in enumerate(drafts):
        deps: set[int] = {k - 1} if k > 0 else set()  # progressive: each prompt builds on the one before
        uses: set[str] = set()
        for item in _consumes(d, layers):
            if item in provider and provider[item] != k:
                uses.add(item)
                deps.add(provider[item])
        for ref in _references(d):
            if req_home.get(ref) != k:
                uses.add(f"requirement:{ref}")
                if ref in req_home:
                    deps.add(req_home[ref])
        entries.append(
            PromptEntry(
                id=ids[k],
                section=d.section.id,
                order_key=f"{d.section.order_key}-{ids[k].rsplit('-', 1)[1]}",
                title=d.title,
                layer=d.layer,
                requirements=[r.id for r in d.reqs],
                depends_on=[ids[j] for j in sorted(deps)],
                provides=provides[k],
                consumes=sorted(uses),
                tokens=0,
                content_hash=_content_hash(d),
                file=f"prompts/{ids[k]}.md",
            )
        )
    return entries


def _provides(d: _Draft, layers: dict[str, Layer]) -> list[str]:
    return sorted(set().union(*(provided(r, layers[r.id]) for r in d.reqs)))


def _consumes(d: _Draft, layers: dict[str, Layer]) -> set[str]:
    if not d.reqs:  # a section without numbered requirements: its whole text is the work
        whole = Requirement(
            d.section.id, d.section.title, d.section.id, d.section.line, d.section.end_line, d.section.text
        )
        return consumed(whole, "integration")
    return set().union(*(consumed(r, layers[r.id]) for r in d.reqs))


def _references(d: _Draft) -> set[str]:
    return set().union(*(referenced_requirements(r) for r in d.reqs))


def _provider_index(provides: list[list[str]]) -> dict[str, int]:
    """Artifact -> index of the first draft providing it; a route also answers for its bare path."""
    provider: dict[str, int] = {}
    for k, items in enumerate(provides):
        for item in items:
            provider.setdefault(item, k)
            if item.startswith("route:"):
                provider.setdefault("path:" + item.split(" ", 1)[1], k)
    return provider


def _dependency_order(drafts: list[_Draft], layers: dict[str, Layer]) -> list[_Draft]:
    """Within each section, move a prompt after the prompts it consumes from (stable; layer order otherwise).

    A UI prompt that uses a hook from the integration layer must come after it, or it would depend
    on a later prompt. When the section's own links form a cycle, the layer order is kept and
    validate reports the cycle.
    """
    out: list[_Draft] = []
    start = 0
    while start < len(drafts):
        end = start
        while end < len(drafts) and drafts[end].section is drafts[start].section:
            end += 1
        group = drafts[start:end]
        provider = _provider_index([_provides(d, layers) for d in group])
        homes = {r.id: k for k, d in enumerate(group) for r in d.reqs}
        needs = [
            {provider[i] for i in _consumes(d, layers) if i in provider}
            | {homes[ref] for ref in _references(d) if ref in homes}
            for d in group
        ]
        order: list[int] = []
        pending = list(range(len(group)))
        while pending:
            ready = next((k for k in pending if needs[k] - {k} <= set(order)), None)
            if ready is None:  # a cycle: keep the remaining ones in layer order
                order.extend(pending)
                break
            order.append(ready)
            pending.remove(ready)
        out.extend(group[k] for k in order)
        start = end
    return out


def _content_hash(d: _Draft) -> str:
    """What the prompt builds: its requirement bodies, section and layer (not the shared preamble)."""
    payload = json.dumps([d.section.id, d.layer, [r.text for r in d.reqs] or d.section.text])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def carry_status(plan: Plan, previous: Plan) -> list[str]:
    """Keep the status of unchanged prompts; mark changed started/done ones ``stale``; say what changed."""
    old = {p.id: p for p in previous.prompts}
    changes: list[str] = []
    for p in plan.prompts:
        before = old.pop(p.id, None)
        if before is None:
            changes.append(f"{p.id}: new")
        elif before.content_hash == p.content_hash:
            p.status = before.status
        elif before.status in ("done", "in_progress", "stale"):
            p.status = "stale"
            changes.append(f"{p.id}: changed after it was {before.status}; marked stale")
        else:
            changes.append(f"{p.id}: changed")
    changes.extend(f"{pid}: removed (was {p.status})" for pid, p in sorted(old.items()))
    return changes
