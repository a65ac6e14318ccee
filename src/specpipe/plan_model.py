"""The plan file: the source of truth for prompts, their order, dependencies and status.

Written as YAML (or JSON when the file name ends in ``.json``). Rendered prompt files are derived
from it; ``status``/``done`` edit it; ``validate`` reads it with line numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from specpipe.text_input import InputError, read_text

Layer = Literal["database", "api", "ui", "integration", "slice"]
Status = Literal["pending", "in_progress", "done", "stale"]
STATUSES: tuple[str, ...] = ("pending", "in_progress", "done", "stale")
PLAN_VERSION = 1
# libyaml is ~10x faster on a plan of a few hundred prompts; the pure-Python classes are the fallback.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class PromptEntry(BaseModel):
    """One execution prompt ``E<NN>-P<MM>``."""

    id: str
    section: str
    order_key: str = Field(description="sort key; prompts run in ascending order")
    title: str
    layer: Layer
    requirements: list[str]
    depends_on: list[str]
    provides: list[str]
    consumes: list[str]
    tokens: int = Field(description="estimated tokens of the rendered prompt")
    content_hash: str = Field(description="sha256 (first 16 hex) of what the prompt builds")
    status: Status = "pending"
    file: str = Field(description="rendered prompt, relative to the plan file")


class SectionEntry(BaseModel):
    """One spec section and the requirements whose bodies it holds."""

    id: str
    number: str
    title: str
    order_key: str
    line: int
    end_line: int
    requirements: list[str]


class RequirementEntry(BaseModel):
    """Where a requirement's body is and which prompt builds it."""

    id: str
    title: str
    section: str
    line: int
    layer: str
    tokens: int
    prompt: str


class BlockEntry(BaseModel):
    """The preamble or an appendix: a line range of the spec."""

    title: str
    line: int
    end_line: int


class Plan(BaseModel):
    """The whole plan."""

    version: int = PLAN_VERSION
    spec: str = Field(description="spec path, relative to the plan file")
    spec_sha256: str
    title: str
    token_budget: int
    context_files: list[str] = Field(default_factory=list, description="blocks pasted into every prompt")
    preamble: BlockEntry
    appendices: list[BlockEntry]
    sections: list[SectionEntry]
    requirements: list[RequirementEntry]
    prompts: list[PromptEntry]

    def prompt(self, prompt_id: str) -> PromptEntry:
        """The prompt with this id; KeyError when absent."""
        for p in self.prompts:
            if p.id == prompt_id:
                return p
        raise KeyError(prompt_id)


def read_context(plan: Plan, plan_path: Path) -> dict[str, str]:
    """The plan's context blocks: file reference -> text ("" when the file is missing)."""
    out = {}
    for ref in plan.context_files:
        path = plan_path.parent / ref
        out[ref] = read_text(path) if path.is_file() else ""
    return out


def dump_plan(plan: Plan, path: Path) -> None:
    """Write the plan deterministically: YAML with leaf lists inline, or JSON for ``*.json``."""
    data = plan.model_dump(mode="json")
    if path.suffix == ".json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.dump(
            data, Dumper=DUMPER, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000
        )
    path.write_text(text, encoding="utf-8")


def load_plan(path: Path) -> Plan:
    """Read a plan file (YAML or JSON) and validate its shape; InputError naming the line otherwise."""
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}:{line}: invalid YAML: {problem}") from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "the file"
        line = _node_line(yaml.compose(text, Loader=LOADER), first["loc"])
        raise InputError(f"{path}:{line}: {where}: {first['msg']}") from None


def _node_line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """1-based line of the YAML node at a pydantic error location (the deepest one that exists)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def prompt_field_lines(path: Path) -> dict[tuple[str, str], int]:
    """1-based line of each prompt field, keyed by (prompt id, field); ``(id, "id")`` is the entry.

    Used to point findings about the dependency graph at the plan file line to edit.
    """
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=LOADER)
    out: dict[tuple[str, str], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value != "prompts" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            fields = {k.value: v for k, v in item.value}
            pid = fields.get("id")
            if pid is None:
                continue
            out[(pid.value, "id")] = pid.start_mark.line + 1
            for name, node in fields.items():
                out[(pid.value, name)] = node.start_mark.line + 1
    return out
