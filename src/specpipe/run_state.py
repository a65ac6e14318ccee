"""Per-prompt run status kept in the plan file: what is done, what is ready next."""

from __future__ import annotations

from pathlib import Path

from specpipe.plan_model import STATUSES, Plan, PromptEntry, dump_plan, load_plan


class StatusError(ValueError):
    """An unknown prompt id or status."""


def set_status(plan_path: Path, prompt_id: str, status: str) -> tuple[PromptEntry, list[str]]:
    """Set one prompt's status in the plan file; returns it and the dependencies not yet done."""
    if status not in STATUSES:
        raise StatusError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    plan = load_plan(plan_path)
    try:
        prompt = plan.prompt(prompt_id)
    except KeyError:
        known = ", ".join(p.id for p in plan.prompts[:5])
        raise StatusError(f"no prompt {prompt_id!r} in {plan_path} (prompts: {known}, ...)") from None
    prompt.status = status  # type: ignore[assignment]  # checked against STATUSES above
    dump_plan(plan, plan_path)
    states = {p.id: p.status for p in plan.prompts}
    return prompt, [d for d in prompt.depends_on if states.get(d) != "done"]


def ready_prompts(plan: Plan) -> list[PromptEntry]:
    """Prompts not done whose dependencies are all done, in run order."""
    done = {p.id for p in plan.prompts if p.status == "done"}
    todo = [p for p in plan.prompts if p.status != "done"]
    return sorted((p for p in todo if set(p.depends_on) <= done), key=lambda p: p.order_key)


def summary(plan: Plan) -> dict[str, int]:
    """Count of prompts per status (every status present, zero included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for p in plan.prompts:
        counts[p.status] += 1
    return counts
