"""Run segment against files: read the spec (and the previous plan), write plan, prompts, appendices.

Layout next to the plan file: ``prompts/<id>.md`` (one per prompt), ``appendices.md``, ``INDEX.md``.
Prompt files whose prompt no longer exists are removed, so the folder always matches the plan.
"""

from __future__ import annotations

import os
from pathlib import Path

from specpipe.plan_model import Plan, dump_plan, load_plan, read_context
from specpipe.prompt_render import PromptRenderer
from specpipe.segmenter import Segmented, segment
from specpipe.spec_parser import parse_spec_file
from specpipe.text_input import read_text
from specpipe.tokens import estimate_tokens
from specpipe.validator import render_blockers


def spec_ref(spec_path: Path, plan_path: Path) -> str:
    """The spec path as the plan records it: relative to the plan's folder, with forward slashes."""
    return Path(os.path.relpath(spec_path.resolve(), plan_path.resolve().parent)).as_posix()


def segment_to_files(
    spec_path: Path, plan_path: Path, budget: int, context: list[Path] | None = None
) -> Segmented:
    """Segment ``spec_path`` into ``plan_path`` and its prompt files; keeps status from an existing plan.

    ``context`` files are pasted into every prompt (and recorded in the plan for ``render``).
    """
    previous = load_plan(plan_path) if plan_path.is_file() else None
    spec = parse_spec_file(spec_path)
    if not spec.sections:
        raise ValueError(f"{spec_path}: no section headings found (expected '## SECTION 1: Title')")
    blocks = {spec_ref(c, plan_path): read_text(c) for c in context or []}
    result = segment(
        spec, budget=budget, spec_ref=spec_ref(spec_path, plan_path), previous=previous, blocks=blocks
    )
    out = plan_path.parent
    prompts_dir = out / "prompts"
    prompts_dir.mkdir(parents=True, exist_ok=True)
    keep = {Path(p.file).name for p in result.plan.prompts}
    for old in prompts_dir.glob("*.md"):
        if old.name not in keep:
            old.unlink()
    for p in result.plan.prompts:
        (out / p.file).write_text(result.prompts[p.id], encoding="utf-8")
    (out / "appendices.md").write_text(result.appendices, encoding="utf-8")
    (out / "INDEX.md").write_text(index_markdown(result.plan), encoding="utf-8")
    dump_plan(result.plan, plan_path)
    return result


def render_from_plan(plan_path: Path) -> Plan:
    """Re-render every prompt file from an edited plan (the plan is the source of truth).

    Use it after editing ``depends_on``, moving a requirement between prompts or renaming a title;
    re-running segment instead would rebuild the plan from the spec (keeping statuses only).
    """
    plan = load_plan(plan_path)
    spec = parse_spec_file(plan_path.parent / plan.spec)
    if blockers := render_blockers(plan, plan_path, spec):
        reasons = "; ".join(f"line {b.line}: {b.code}: {b.message}" for b in blockers)
        raise ValueError(f"{plan_path}: not rendered, the plan is invalid: {reasons}")
    renderer = PromptRenderer(spec, plan.spec, read_context(plan, plan_path))
    out = plan_path.parent
    (out / "prompts").mkdir(parents=True, exist_ok=True)
    for p in plan.prompts:
        text = renderer.render(plan, p)
        p.tokens = estimate_tokens(text)
        (out / p.file).write_text(text, encoding="utf-8")
    (out / "INDEX.md").write_text(index_markdown(plan), encoding="utf-8")
    dump_plan(plan, plan_path)
    return plan


def index_markdown(plan: Plan) -> str:
    """A human overview: prompts in run order with their requirements and dependencies."""
    rows = [
        f"| {p.id} | {p.title} | {p.layer} | {', '.join(p.requirements) or '-'} | "
        f"{', '.join(p.depends_on) or '-'} | {p.tokens} |"
        for p in plan.prompts
    ]
    return "\n".join(
        [
            f"# {plan.title}: execution prompts",
            "",
            f"Source: `{plan.spec}` · {len(plan.prompts)} prompts · budget {plan.token_budget} tokens each.",
            "Run them in this order, each in a fresh agent session; `specpipe status` shows progress.",
            "",
            "| Prompt | Title | Layer | Requirements | Depends on | Tokens |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
