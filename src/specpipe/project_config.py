"""``specpipe.toml``: project names, paths, output file names, budgets, the substitution table, LLM.

Every command reads it (when present) so nothing needs to be typed twice; command-line options
override it. Paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from specpipe.text_input import InputError, read_text

CONFIG_NAME = "specpipe.toml"
# abbrev becomes part of output file names, so it must not carry a path ("../x") or spaces.
ABBREV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
ABBREV_RULE = "letters, digits, '-' and '_' (starting with a letter or digit, at most 40)"

# The stack the original structured specs assumed, and what a Supabase + Next.js codebase has instead.
DEFAULT_SUBSTITUTIONS = {
    "Prisma": "the existing Supabase client",
    "NextAuth.js": "the existing auth helpers",
    "NextAuth": "the existing auth helpers",
    "AWS S3": "the existing Supabase Storage buckets",
    "S3": "the existing Supabase Storage buckets",
    "BullMQ": "Supabase Edge Functions with cron",
    "SWR": "the existing React Query hooks",
}


class ConfigError(ValueError):
    """specpipe.toml is unreadable or has a wrong field."""


class FileNames(BaseModel):
    """Output file names inside ``out_dir``; ``{abbrev}`` is replaced."""

    inventory_json: str = "{abbrev}-inventory.json"
    inventory_md: str = "{abbrev}-inventory.md"
    blueprint_prompt: str = "{abbrev}-blueprint-prompt.md"
    merge_prompt: str = "{abbrev}-merge-prompt.md"
    integrated_spec: str = "{abbrev}-integrated-spec.md"
    plan: str = "{abbrev}-plan.yaml"


class LlmConfig(BaseModel):
    """An OpenAI-compatible chat endpoint; off unless ``enabled``."""

    enabled: bool = False
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key_env: str = Field(
        "", description="name of the environment variable holding the key (never the key)"
    )
    timeout_s: float = 300.0


class ProjectConfig(BaseModel):
    """The whole project file, with paths resolved against ``root``."""

    root: Path = Path(".")
    name: str = "New Module"
    abbrev: str = "module"
    codebase: str = "."
    app: str = Field("", description="app folder inside the codebase; empty: the one with the most routes")
    spec: str = "spec.md"
    blueprint_docs: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list, description="files pasted into every execution prompt")
    out_dir: str = "specpipe-out"
    prompt_tokens: int = Field(8000, gt=0)
    inventory_tokens: int = Field(2000, gt=0)
    files: FileNames = Field(default_factory=FileNames)
    substitutions: dict[str, str] = Field(default_factory=dict)
    llm: LlmConfig = Field(default_factory=LlmConfig)

    @field_validator("abbrev")
    @classmethod
    def _safe_abbrev(cls, value: str) -> str:
        if not ABBREV.match(value):
            raise ValueError(f"abbrev {value!r} must be {ABBREV_RULE}")
        return value

    def path(self, value: str) -> Path:
        """A path from the file, resolved against the file's folder."""
        return self.root / value

    def output(self, key: str) -> Path:
        """The output file named ``files.<key>`` inside ``out_dir``."""
        name: str = getattr(self.files, key)
        return self.root / self.out_dir / name.format(abbrev=self.abbrev)


def load_config(path: Path | None) -> ProjectConfig:
    """Read ``path`` (or ``./specpipe.toml`` when it exists); defaults when there is none."""
    if path is None:
        path = Path(CONFIG_NAME)
        if not path.is_file():
            return ProjectConfig()
    try:
        data = tomllib.loads(read_text(path))
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    flat = {
        **data.get("project", {}),
        **data.get("paths", {}),
        **data.get("budgets", {}),
        "files": data.get("files", {}),
        "substitutions": data.get("substitutions", {}),
        "llm": data.get("llm", {}),
        "root": path.parent,
    }
    try:
        return ProjectConfig.model_validate(flat)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(name: str, abbrev: str, codebase: str, spec: str) -> str:
    """The text ``specpipe init`` writes: every setting, with its default, explained."""
    subs = "\n".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in DEFAULT_SUBSTITUTIONS.items())
    return f"""# specpipe project file. Paths are relative to this file.
[project]
name = {_toml_str(name)}
abbrev = {_toml_str(abbrev)}

[paths]
codebase = {_toml_str(codebase)}      # the existing application the module extends
app = ""                # its app folder when the codebase holds several ("" = the one with most routes)
spec = {_toml_str(spec)}          # the structured spec of the new module
blueprint_docs = []     # the documents the blueprint step produced (inventory, strategy, guide)
context = []            # files pasted into every execution prompt (a tool reference, conventions)
out_dir = "specpipe-out"

[budgets]
prompt_tokens = 8000    # target size of one execution prompt (estimated: characters / 4)
inventory_tokens = 2000 # size of the markdown inventory digest

[files]                 # output names inside out_dir; {{abbrev}} is replaced
inventory_json = "{{abbrev}}-inventory.json"
inventory_md = "{{abbrev}}-inventory.md"
blueprint_prompt = "{{abbrev}}-blueprint-prompt.md"
merge_prompt = "{{abbrev}}-merge-prompt.md"
integrated_spec = "{{abbrev}}-integrated-spec.md"
plan = "{{abbrev}}-plan.yaml"

# Spec-stack term -> what the existing codebase uses. merge rewrites prose with it; validate
# reports every term left over, with its line.
[substitutions]
{subs}

[llm]                   # optional; without it every prompt is paste-ready
enabled = false
base_url = "http://127.0.0.1:8000/v1"
model = ""
api_key_env = ""        # NAME of the environment variable that holds the key
timeout_s = 300
"""
