"""Commands that generate from a codebase and specs: inventory, blueprint, merge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specpipe.cli_support import ConfigOpt, config_or_exit, existing, fail
from specpipe.project_config import ProjectConfig

if TYPE_CHECKING:
    from specpipe.templating import Rendered

# The generators (inventory scanners, Jinja2) are imported inside each command: `specpipe --help`
# and the segment/validate commands should not pay for them at start-up.

LlmOpt = Annotated[bool, typer.Option("--llm", help="also send the prompt to the configured endpoint")]


def inventory(
    codebase: Annotated[
        Path | None, typer.Argument(help="codebase root (default from specpipe.toml)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="JSON output (the digest goes next to it as .md)")] = None,
    budget: Annotated[int | None, typer.Option(min=1, help="tokens for the markdown digest")] = None,
    app_dir: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="app folder inside the codebase (default: [paths] app, else the one with most routes)",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Scan a codebase: JSON inventory plus a ranked markdown digest within a token budget."""
    from specpipe.generate import write_inventory

    cfg = config_or_exit(config)
    root = codebase or cfg.path(cfg.codebase)
    if not root.is_dir():
        raise fail(f"codebase folder not found: {root}")
    json_path = out or cfg.output("inventory_json")
    md_path = json_path.with_suffix(".md") if out else cfg.output("inventory_md")
    try:
        inv = write_inventory(
            root, json_path, md_path, budget or cfg.inventory_tokens, app_dir or cfg.app or None
        )
    except ValueError as exc:  # an --app folder that does not exist
        raise fail(str(exc)) from None
    app = inv["app"]
    if app["root"] != "." or app["ignored"]:
        ignored = f"; ignored {', '.join(app['ignored'])}" if app["ignored"] else ""
        typer.echo(f"app {app['root']}: {app['reason']}{ignored}")
    typer.echo(
        f"{json_path}: {inv['file_count']} files, {len(inv['routes'])} routes, "
        f"{len(inv['database']['tables'])} tables, {len(inv['auth']['helpers'])} auth helpers, "
        f"{len(inv['ui']['components'])} components; digest {md_path}"
    )


def _write(cfg: ProjectConfig, rendered: Rendered, target: Path, use_llm: bool, answer_name: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rendered.text, encoding="utf-8")
    typer.echo(f"wrote {target}")
    if rendered.unused:
        typer.echo(f"  note: inputs the template did not use: {', '.join(rendered.unused)}")
    if use_llm or cfg.llm.enabled:
        from specpipe.llm_client import LlmError, complete  # httpx costs ~90 ms of every start

        try:
            answer = complete(cfg.llm, rendered.text)
        except LlmError as exc:
            raise fail(str(exc)) from None
        answer_path = target.with_name(answer_name)
        answer_path.write_text(answer, encoding="utf-8")
        typer.echo(f"wrote {answer_path} (model answer)")
    else:
        typer.echo("  paste it into a fresh agent session (or set [llm] enabled = true)")


def blueprint(
    spec: Annotated[Path | None, typer.Argument(help="structured spec (default from specpipe.toml)")] = None,
    codebase: Annotated[Path | None, typer.Option(help="codebase root")] = None,
    inventory_json: Annotated[Path | None, typer.Option("--inventory", help="inventory JSON")] = None,
    out: Annotated[Path | None, typer.Option(help="where to write the prompt")] = None,
    llm: LlmOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Render the Module Extension Blueprint prompt (extend the codebase, never compare)."""
    from specpipe.generate import render_blueprint, write_inventory

    cfg = config_or_exit(config)
    spec_path = existing(spec or cfg.path(cfg.spec), "spec")
    root = codebase or cfg.path(cfg.codebase)
    inv = inventory_json or cfg.output("inventory_json")
    if not inv.is_file():
        try:
            write_inventory(root, inv, cfg.output("inventory_md"), cfg.inventory_tokens, cfg.app or None)
        except ValueError as exc:  # a configured app folder that does not exist
            raise fail(str(exc)) from None
        typer.echo(f"wrote {inv} (inventory was missing)")
    try:
        rendered = render_blueprint(cfg, spec_path, root, inv)
    except ValueError as exc:  # a TemplateInputError, or a spec that is not UTF-8 text
        raise fail(str(exc)) from None
    _write(cfg, rendered, out or cfg.output("blueprint_prompt"), llm, f"{cfg.abbrev}-blueprint-answer.md")


def merge(
    spec: Annotated[Path | None, typer.Argument(help="structured spec (default from specpipe.toml)")] = None,
    docs: Annotated[list[Path] | None, typer.Option("--doc", help="blueprint document (repeatable)")] = None,
    substitute: Annotated[
        Path | None,
        typer.Option(help="instead: apply the substitution table to this file and report leftovers"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output file")] = None,
    llm: LlmOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Render the merge prompt, or (--substitute FILE) rewrite spec-stack terms and report the rest."""
    from specpipe.generate import render_merge, repo_path, substitute_file, write_inventory

    cfg = config_or_exit(config)
    if substitute is not None:
        source = existing(substitute, "file")
        target = out or cfg.output("integrated_spec")
        try:
            result = substitute_file(source, target, cfg.substitutions)
        except ValueError as exc:
            raise fail(str(exc)) from None
        replaced = ", ".join(f"{t} x{n}" for t, n in sorted(result.replaced.items())) or "nothing"
        typer.echo(f"wrote {target}; replaced {replaced}")
        for hit in result.remaining:
            where = "code" if hit.in_code else "text"
            typer.echo(f"{repo_path(cfg, target)}:{hit.line}: error FORBIDDEN_TERM: {hit.term!r} in {where}")
        if result.remaining:
            raise typer.Exit(1)
        return
    spec_path = existing(spec or cfg.path(cfg.spec), "spec")
    doc_paths = [
        existing(d, "blueprint document") for d in (docs or [cfg.path(d) for d in cfg.blueprint_docs])
    ]
    inv = cfg.output("inventory_json")
    if not inv.is_file():
        try:
            write_inventory(
                cfg.path(cfg.codebase), inv, cfg.output("inventory_md"), cfg.inventory_tokens, cfg.app or None
            )
        except ValueError as exc:  # a configured app folder that does not exist
            raise fail(str(exc)) from None
    try:
        rendered = render_merge(cfg, spec_path, doc_paths, inv, cfg.output("integrated_spec"))
    except ValueError as exc:  # a TemplateInputError, or a spec that is not UTF-8 text
        raise fail(str(exc)) from None
    _write(cfg, rendered, out or cfg.output("merge_prompt"), llm, f"{cfg.abbrev}-integrated-spec-answer.md")
