"""The generation steps behind inventory, blueprint and merge: read inputs, render, write outputs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specpipe.forbidden_terms import TermHit, apply_substitutions, find_terms
from specpipe.inventory import render_digest, scan_codebase
from specpipe.project_config import ProjectConfig
from specpipe.prompt_render import demote_headings
from specpipe.spec_parser import parse_spec_file
from specpipe.templating import Rendered, render
from specpipe.text_input import read_text

BLUEPRINT_DOCS = {
    "inventory": "{abbrev}-infrastructure-inventory.md",
    "strategy": "{abbrev}-extension-strategy.md",
    "guide": "{abbrev}-implementation-guide.md",
}


def repo_path(cfg: ProjectConfig, path: Path) -> str:
    """``path`` relative to the project root (the folder of specpipe.toml), forward slashes."""
    return Path(os.path.relpath(path.resolve(), cfg.root.resolve())).as_posix()


def write_inventory(
    codebase: Path, json_path: Path, md_path: Path, budget: int, app: str | None = None
) -> dict[str, Any]:
    """Scan ``codebase`` (its app folder ``app``, or the one picked); write JSON and digest; return it."""
    inv = scan_codebase(codebase, app)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(inv, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(render_digest(inv, budget), encoding="utf-8")
    return inv


def _digest(cfg: ProjectConfig, inventory_json: Path) -> str:
    inv = _load(inventory_json)
    return demote_headings(render_digest(inv, cfg.inventory_tokens), floor=3)  # nested in the prompt


def area_mapping(inv: dict[str, Any]) -> list[dict[str, str]]:
    """For each infrastructure area, the existing thing the new module USES, with its evidence."""
    from specpipe.inventory.decisions import decisions

    return decisions(inv)


def _load(inventory_json: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(inventory_json.read_text(encoding="utf-8"))
    return data


def render_blueprint(cfg: ProjectConfig, spec: Path, codebase: Path, inventory_json: Path) -> Rendered:
    """The Module Extension Blueprint prompt, with the inventory digest and the area mapping embedded."""
    out_dir = cfg.root / cfg.out_dir
    return render(
        "blueprint.md.j2",
        {
            "project_name": cfg.name,
            "spec_path": repo_path(cfg, spec),
            "codebase_path": repo_path(cfg, codebase),
            "app_root": _load(inventory_json).get("app", {}).get("root", "."),
            "inventory_json_path": repo_path(cfg, inventory_json),
            "inventory_digest": _digest(cfg, inventory_json),
            "area_mapping": area_mapping(_load(inventory_json)),
            "substitutions": cfg.substitutions,
            "output_dir": repo_path(cfg, out_dir),
            "output_files": {k: v.format(abbrev=cfg.abbrev) for k, v in BLUEPRINT_DOCS.items()},
        },
    )


def render_merge(
    cfg: ProjectConfig, spec: Path, docs: list[Path], inventory_json: Path, output: Path
) -> Rendered:
    """The merge prompt: structured spec + blueprint documents -> integrated extension spec."""
    parsed = parse_spec_file(spec)
    return render(
        "merge.md.j2",
        {
            "project_name": cfg.name,
            "spec_path": repo_path(cfg, spec),
            "blueprint_docs": [repo_path(cfg, d) for d in docs],
            "inventory_digest": _digest(cfg, inventory_json),
            "substitutions": cfg.substitutions,
            "sections": [{"number": s.number, "title": s.title} for s in parsed.sections],
            "output_path": repo_path(cfg, output),
        },
    )


@dataclass(frozen=True)
class Substituted:
    """Result of the deterministic substitution pass."""

    replaced: dict[str, int]
    remaining: list[TermHit]


def substitute_file(source: Path, target: Path, table: dict[str, str]) -> Substituted:
    """Apply the substitution table to ``source`` prose, write ``target``, list the terms left over."""
    text, counts = apply_substitutions(read_text(source), table)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return Substituted(counts, find_terms(text.splitlines(), list(table)))
