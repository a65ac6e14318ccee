"""What a user chooses from to launch a job, as the dashboard's new-job page shows it: their ready
datasets, the base-model catalogue with sizes, the presets with their reasons, every TrainingConfig
field with its range and help, the backends this service can run, and the monthly budget. Also a
failed job's choices (to retry it with changes) and a config's preset as a person reads it
("cpu-smoke + 1 override")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.backends.registry import BACKENDS
from lorapipe.contract.config import PRESET_NAMES, TrainingConfig, preset_values
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.db.jobs import FileObject
from lorapipe.jobs import store
from lorapipe.models.catalog import ModelSpec, list_models
from lorapipe.services.budgets import get_budget, month_spend
from lorapipe.services.catalog import PresetPublic
from lorapipe.settings import Settings

FieldKind = Literal["integer", "number", "boolean", "choice", "modules"]
GROUPS: dict[str, tuple[str, ...]] = {
    "Adapter": ("method", "rank", "alpha", "dropout", "target_modules"),
    "Optimisation": (
        "learning_rate",
        "lr_scheduler",
        "warmup_ratio",
        "weight_decay",
        "max_grad_norm",
        "optimizer",
        "epochs",
        "max_steps",
        "batch_size",
        "gradient_accumulation_steps",
    ),
    "Data": ("max_length", "packing", "thinking", "validation_split", "seed"),
    "Evaluation and checkpoints": (
        "eval_steps",
        "save_steps",
        "logging_steps",
        "keep_checkpoints",
        "early_stopping_patience",
        "early_stopping_threshold",
        "final_adapter",
    ),
    "Hardware": ("precision", "gradient_checkpointing", "attention"),
    "Outputs": ("sample_prompts", "sample_max_new_tokens"),
}
"""The advanced panel's sections, in TrainingConfig's own order."""
DATASET_CHOICES = 200
"""Newest ready datasets offered in the picker."""


class ConfigField(BaseModel):
    """One TrainingConfig field as a form input: its kind, range, choices and help."""

    name: str
    group: str
    kind: FieldKind
    help: str
    default: Any
    optional: bool = Field(description="May be left empty (None), e.g. max_steps.")
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: list[str] = Field(default_factory=list)

    @property
    def range_text(self) -> str:
        if self.kind == "choice":
            return " | ".join(self.choices)
        if self.minimum is None and self.maximum is None:
            return ""
        low = "" if self.minimum is None else f"{'>' if self.exclusive_minimum else ''}{self.minimum:g}"
        high = "" if self.maximum is None else f"{self.maximum:g}"
        return f"{low}..{high}" + (" or empty" if self.optional else "")


class ModelChoice(BaseModel):
    id: str
    display_name: str
    size: str = Field(description="Parameters, e.g. '8.2B' or '30.5B (3.3B active)'.")
    params_total_b: float
    source: str


class DatasetChoice(BaseModel):
    id: str
    name: str
    examples: int | None
    tokens_counted: bool
    tokenizer: str | None


class BackendChoice(BaseModel):
    name: str
    ready: bool
    why_not: str | None = Field(description="Why this service cannot run it now.")
    max_gpus: int


class LaunchOptions(BaseModel):
    datasets: list[DatasetChoice]
    models: list[ModelChoice]
    presets: list[PresetPublic]
    fields: list[ConfigField]
    backends: list[BackendChoice]
    budget_usd: float | None
    spent_usd: float


class LaunchChoice(BaseModel):
    """What the page starts with: from a dataset link, or a job to retry with changes."""

    dataset: str | None = None
    model: str | None = None
    preset: str = "balanced"
    overrides: dict[str, Any] = Field(default_factory=dict)
    backend: str = "local"
    suffix: str | None = None
    retry_of: str | None = None


def _size(spec: ModelSpec) -> str:
    def billions(b: float) -> str:
        return f"{b * 1000:.0f}M" if b < 1 else f"{b:.3g}B"

    total = billions(spec.params_total_b)
    return (
        total
        if spec.params_active_b >= spec.params_total_b
        else f"{total} ({billions(spec.params_active_b)} active)"
    )


def _field(name: str, group: str, schema: dict[str, Any], info: Any) -> ConfigField:
    options = schema.get("anyOf") or [schema]
    optional = any(o.get("type") == "null" for o in options)
    main = next((o for o in options if o.get("type") != "null"), schema)
    kind: FieldKind
    if name == "target_modules":
        kind, choices = "modules", list(options[0].get("enum", []))
    elif "enum" in main:
        kind, choices = "choice", [str(c) for c in main["enum"]]
    else:
        kinds: dict[str, FieldKind] = {"integer": "integer", "number": "number", "boolean": "boolean"}
        kind, choices = kinds[main.get("type", "number")], []
    low = main.get("minimum", main.get("exclusiveMinimum"))
    return ConfigField(
        name=name,
        group=group,
        kind=kind,
        help=info.description or "",
        default=schema.get("default"),
        optional=optional,
        minimum=low,
        maximum=main.get("maximum"),
        exclusive_minimum="exclusiveMinimum" in main,
        choices=choices,
    )


def config_fields() -> list[ConfigField]:
    """Every TrainingConfig field a user sets (not ``version`` or ``preset``), grouped."""
    properties = TrainingConfig.model_json_schema()["properties"]
    return [
        _field(name, group, properties[name], TrainingConfig.model_fields[name])
        for group, names in GROUPS.items()
        for name in names
    ]


def backend_choices(settings: Settings) -> list[BackendChoice]:
    """Every backend of the registry, ready ones first, with why the others cannot run here."""
    rows = []
    for name, entry in BACKENDS.items():
        why = entry.missing(settings)
        rows.append(BackendChoice(name=name, ready=why is None, why_not=why, max_gpus=entry.max_gpus))
    return sorted(rows, key=lambda b: not b.ready)


def _dataset_choices(session: Session, owner_id: str) -> list[DatasetChoice]:
    rows = session.scalars(
        select(Dataset)
        .where(
            Dataset.owner_id == owner_id,
            Dataset.deleted_at.is_(None),
            Dataset.status == DatasetStatus.READY.value,
        )
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(DATASET_CHOICES)
    )
    choices = []
    for row in rows:
        stats = row.statistics or {}
        tokens = stats.get("tokens") or {}
        choices.append(
            DatasetChoice(
                id=row.id,
                name=row.name,
                examples=stats.get("examples"),
                tokens_counted=bool(tokens),
                tokenizer=tokens.get("tokenizer"),
            )
        )
    return choices


def launch_options(session: Session, settings: Settings, owner_id: str) -> LaunchOptions:
    models = [
        ModelChoice(
            id=m.id,
            display_name=m.display_name,
            size=_size(m),
            params_total_b=m.params_total_b,
            source=m.source,
        )
        for m in list_models()
    ]
    return LaunchOptions(
        datasets=_dataset_choices(session, owner_id),
        models=models,
        presets=[PresetPublic.named(name) for name in PRESET_NAMES],
        fields=config_fields(),
        backends=backend_choices(settings),
        budget_usd=get_budget(session, owner_id),
        spent_usd=round(month_spend(session, owner_id), 4),
    )


def preset_overrides(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The preset ``config`` is closest to and the values that differ from it (fewest differences wins;
    ties go to the earlier preset)."""
    defaults = TrainingConfig().model_dump(mode="json")
    fields = [name for name in TrainingConfig.model_fields if name not in ("version", "preset")]
    best: tuple[str, dict[str, Any]] | None = None
    for name in PRESET_NAMES:
        base = {**defaults, **preset_values(name)}
        differ = {f: config[f] for f in fields if f in config and config[f] != base.get(f)}
        if best is None or len(differ) < len(best[1]):
            best = (name, differ)
    assert best is not None
    return best


def preset_label(config: dict[str, Any]) -> str:
    """How a person reads a job's preset: ``cpu-smoke``, or ``cpu-smoke + 1 override (max_steps)``."""
    named = config.get("preset")
    if named in PRESET_NAMES:
        return str(named)
    name, differ = preset_overrides(config)
    if not differ:
        return name
    n = len(differ)
    fields = ", ".join(sorted(differ))
    return f"{name} + {n} override{'s' if n != 1 else ''} ({fields})"


def retry_choice(session: Session, owner_id: str, job_id: str) -> LaunchChoice:
    """The choices a job was launched with, for "retry with changes" (its dataset, model, preset and
    overrides, backend); :class:`NotFoundError` when it is not the owner's."""
    job = store.get_job(session, owner_id, job_id)
    config = dict((job.spec or {}).get("config") or {})
    preset, overrides = preset_overrides(config)
    file = session.get(FileObject, job.training_file)
    dataset = file.dataset_id if file is not None and file.owner_id == owner_id else None
    return LaunchChoice(
        dataset=dataset,
        model=job.model,
        preset=preset,
        overrides=overrides,
        backend=job.backend,
        suffix=job.suffix,
        retry_of=job.id,
    )
