"""``specpipe`` command line: non-interactive; settings come from specpipe.toml, options override them.

Exit codes: 0 success; 1 validation errors found; 2 bad input (missing file, bad config, unknown id).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from specpipe.cli_generate import blueprint, inventory, merge
from specpipe.cli_support import ConfigOpt, config_or_exit, existing, fail
from specpipe.findings import Finding
from specpipe.plan_model import load_plan
from specpipe.project_config import ABBREV, ABBREV_RULE, CONFIG_NAME, config_text
from specpipe.run_state import ready_prompts, set_status, summary
from specpipe.segment_files import render_from_plan, segment_to_files
from specpipe.spec_parser import parse_spec_file
from specpipe.validator import validate_plan, validate_spec

app = typer.Typer(
    name="specpipe",
    help="Inventory a codebase, render the extension blueprint and merge prompts, segment a spec into "
    "checked execution prompts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

PlanOpt = Annotated[Path | None, typer.Option("--plan", help="plan file (default from specpipe.toml)")]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="where to write specpipe.toml")] = Path("."),
    name: Annotated[str | None, typer.Option(help="module name (default: the folder name)")] = None,
    abbrev: Annotated[str | None, typer.Option(help="short name used in file names")] = None,
    codebase: Annotated[str, typer.Option(help="path of the existing codebase")] = ".",
    spec: Annotated[str, typer.Option(help="path of the structured spec")] = "spec.md",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write specpipe.toml with every setting and its default."""
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise fail(f"{target} exists; use --force to overwrite")
    title = name or directory.resolve().name.replace("-", " ").title()
    if name is None and sys.stdin.isatty():  # prompting is only the fallback for a person at a terminal
        title = typer.prompt("Module name", default=title)
    short = abbrev or "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c == "-")
    if abbrev is None and sys.stdin.isatty():
        short = typer.prompt("Short name for file names", default=short)
    if not ABBREV.match(short):
        raise fail(f"--abbrev {short!r} must be {ABBREV_RULE}: it becomes part of output file names")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(config_text(title, short, codebase, spec), encoding="utf-8")
    typer.echo(f"wrote {target}")


@app.command()
def segment(
    spec: Annotated[Path | None, typer.Argument(help="integrated spec (default from specpipe.toml)")] = None,
    plan: PlanOpt = None,
    budget: Annotated[int | None, typer.Option(min=1, help="tokens per prompt (positive)")] = None,
    inject: Annotated[
        list[Path] | None, typer.Option(help="file pasted into every prompt (repeatable)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Split a spec into a plan file and self-contained execution prompts E<NN>-P<MM>."""
    cfg = config_or_exit(config)
    spec_path = existing(spec or cfg.output("integrated_spec"), "spec")
    plan_path = plan or cfg.output("plan")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    context = [existing(c, "context file") for c in (inject or [cfg.path(c) for c in cfg.context])]
    try:
        result = segment_to_files(spec_path, plan_path, budget or cfg.prompt_tokens, context)
    except ValueError as exc:
        raise fail(str(exc)) from None
    p = result.plan
    typer.echo(
        f"{plan_path}: {len(p.sections)} sections, {len(p.requirements)} requirements, "
        f"{len(p.prompts)} prompts, {len(p.appendices)} appendices"
    )
    for change in result.changes:
        typer.echo(f"  {change}")
    # segment is done only when its output passes validate: a plan with errors is not a success.
    parsed = parse_spec_file(spec_path)
    findings = validate_spec(parsed, list(cfg.substitutions)) + validate_plan(p, plan_path, parsed)
    inv_path = cfg.output("inventory_json")
    if inv_path.is_file():  # the same spec-against-codebase checks validate runs
        from specpipe.inventory_checks import check_against_inventory, load_inventory

        try:
            findings += check_against_inventory(parsed, load_inventory(inv_path))
        except ValueError as exc:
            raise fail(str(exc)) from None
        typer.echo(f"(tables, routes and buckets checked against {inv_path})")
    _report(sorted(findings, key=lambda f: (f.file, f.line, f.code)), as_json=False)


@app.command()
def render(plan: PlanOpt = None, config: ConfigOpt = None) -> None:
    """Re-render the prompt files from an edited plan (the plan is the source of truth)."""
    cfg = config_or_exit(config)
    plan_path = existing(plan or cfg.output("plan"), "plan")
    try:
        rendered = render_from_plan(plan_path)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{plan_path}: rendered {len(rendered.prompts)} prompts")


@app.command()
def validate(
    spec: Annotated[Path | None, typer.Argument(help="spec to check (default from specpipe.toml)")] = None,
    plan: PlanOpt = None,
    inventory_json: Annotated[
        Path | None,
        typer.Option(
            "--inventory",
            help="inventory JSON to check tables, routes and buckets against (default: the configured one, if it exists)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print findings as JSON")] = False,
    config: ConfigOpt = None,
) -> None:
    """Check the spec, its plan and prompts (and the spec against the inventory); exit 1 on errors."""
    cfg = config_or_exit(config)
    spec_path = existing(spec or cfg.output("integrated_spec"), "spec")
    plan_path = plan or cfg.output("plan")
    from specpipe.inventory_checks import check_against_inventory, load_inventory  # only validate needs it

    inv_path = existing(inventory_json, "inventory") if inventory_json else cfg.output("inventory_json")
    try:
        parsed = parse_spec_file(spec_path)
        loaded = load_plan(plan_path) if plan_path.is_file() else None
        inv = load_inventory(inv_path) if inv_path.is_file() else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    findings = validate_spec(parsed, list(cfg.substitutions))
    if inv is not None:
        findings += check_against_inventory(parsed, inv)
        if not as_json:
            typer.echo(f"(tables, routes and buckets checked against {inv_path})")
    if loaded is not None:
        findings += validate_plan(loaded, plan_path, parsed)
    elif plan is not None:
        raise fail(f"plan not found: {plan}")
    elif not as_json:
        typer.echo(f"(no plan at {plan_path}: spec checks only)")
    _report(sorted(findings, key=lambda f: (f.file, f.line, f.code)), as_json)


def _report(findings: list[Finding], as_json: bool) -> None:
    """Print findings (text or JSON); exit 1 when any is an error."""
    errors = sum(f.severity == "error" for f in findings)
    if as_json:
        typer.echo(json.dumps({"errors": errors, "findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        for f in findings:
            typer.echo(str(f))
        typer.echo(f"{errors} errors, {len(findings) - errors} warnings")
    if errors:
        raise typer.Exit(1)


@app.command()
def status(plan: PlanOpt = None, config: ConfigOpt = None) -> None:
    """Show each prompt's status and the prompts ready to run next."""
    cfg = config_or_exit(config)
    plan_path = existing(plan or cfg.output("plan"), "plan")
    try:
        loaded = load_plan(plan_path)
    except ValueError as exc:
        raise fail(str(exc)) from None
    for p in loaded.prompts:
        typer.echo(f"{p.id:10} {p.status:12} {p.title}")
    counts = ", ".join(f"{n} {s}" for s, n in summary(loaded).items())
    ready = ", ".join(p.id for p in ready_prompts(loaded)) or "none"
    typer.echo(f"{counts}; ready next: {ready}")


@app.command()
def done(
    prompt_id: Annotated[str, typer.Argument(help="prompt id, e.g. E01-P02")],
    plan: PlanOpt = None,
    set_to: Annotated[str, typer.Option("--status", help="status to set")] = "done",
    config: ConfigOpt = None,
) -> None:
    """Mark a prompt done (or another status with --status)."""
    cfg = config_or_exit(config)
    plan_path = existing(plan or cfg.output("plan"), "plan")
    try:
        prompt, waiting = set_status(plan_path, prompt_id, set_to)
    except ValueError as exc:  # StatusError, or an unreadable plan
        raise fail(str(exc)) from None
    typer.echo(f"{prompt.id}: {prompt.status}")
    if waiting and prompt.status == "done":
        typer.echo(f"  note: its dependencies {', '.join(waiting)} are not done")


app.command()(inventory)
app.command()(blueprint)
app.command()(merge)

if __name__ == "__main__":
    app()
