"""TrainingConfig: every hyperparameter of one LoRA run, typed, ranged and versioned.

A config starts from a preset (a data file in ``presets/``); any field set to a value other than
the preset's makes it ``custom``. Every problem is reported at once, each naming the field, the
value and what to do (:func:`parse_config`).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lorapipe.errors import ConfigError

CONFIG_VERSION: Literal[1] = 1
PRESET_NAMES = ("conservative", "balanced", "aggressive", "cpu-smoke")

Method = Literal["lora", "qlora", "dora", "rslora"]
Scheduler = Literal["cosine", "linear", "constant", "constant_with_warmup"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Thinking = Literal["auto", "on", "off"]
Attention = Literal["auto", "sdpa", "eager", "flash_attention_2"]
Optimizer = Literal["adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "paged_adamw_32bit"]
FinalAdapter = Literal["best", "last"]


class TrainingConfig(BaseModel):
    """Hyperparameters of one run. Defaults are the ``balanced`` preset."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    version: Literal[1] = Field(default=CONFIG_VERSION, description="Schema version of this config (1).")
    preset: str = Field(
        default="balanced",
        description="Preset the values come from: conservative, balanced, aggressive, cpu-smoke, or custom "
        "(set automatically when any value differs from the preset).",
    )
    # --- adapter -----------------------------------------------------------------------------------
    method: Method = Field(
        default="lora",
        description="lora; qlora (4-bit NF4 base with double quantisation, CUDA only); dora (weight-decomposed); "
        "rslora (rank-stabilised scaling alpha/sqrt(r)).",
    )
    rank: int = Field(default=16, ge=1, le=512, description="LoRA rank r, 1..512.")
    alpha: int = Field(default=32, ge=1, le=4096, description="LoRA alpha (update scale alpha/r), 1..4096.")
    dropout: float = Field(default=0.05, ge=0, le=0.5, description="Dropout on the LoRA input, 0..0.5.")
    target_modules: Literal["attention", "all-linear"] | list[str] = Field(
        default="all-linear",
        description="Layers that get adapters: 'attention' (q/k/v/o projections), 'all-linear' (attention and "
        "MLP, not the output head), or an explicit list of module names such as ['q_proj', 'v_proj'].",
    )
    # --- optimisation -----------------------------------------------------------------------------
    learning_rate: float = Field(default=2e-4, gt=0, le=1e-2, description="Peak learning rate, >0..0.01.")
    lr_scheduler: Scheduler = Field(default="cosine", description="Learning-rate schedule after warmup.")
    warmup_ratio: float = Field(default=0.03, ge=0, le=0.5, description="Share of steps warming up, 0..0.5.")
    weight_decay: float = Field(default=0.0, ge=0, le=1, description="AdamW weight decay, 0..1.")
    max_grad_norm: float = Field(default=1.0, ge=0, le=100, description="Gradient clipping norm (0 = off).")
    optimizer: Optimizer = Field(
        default="adamw_torch", description="Optimizer; the paged_* variants need bitsandbytes (CUDA)."
    )
    epochs: float = Field(default=3, gt=0, le=100, description="Passes over the training set, >0..100.")
    max_steps: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Optimizer steps; when set, overrides epochs."
    )
    batch_size: int = Field(default=4, ge=1, le=512, description="Examples per device per micro-batch.")
    gradient_accumulation_steps: int = Field(
        default=4, ge=1, le=1024, description="Micro-batches per optimizer step (effective batch = product)."
    )
    # --- data ---------------------------------------------------------------------------------------
    max_length: int = Field(
        default=2048,
        ge=32,
        le=262_144,
        description="Tokens per example, 32..262144. Longer examples lose their oldest history turns; "
        "an example whose trained reply alone does not fit is dropped (never cut).",
    )
    packing: bool = Field(
        default=False,
        description="Padding-free batches (sequences concatenated with position ids; needs flash attention "
        "to pay off). Off: length-grouped batches with dynamic padding.",
    )
    thinking: Thinking = Field(
        default="auto",
        description="Qwen3 thinking mode: 'on' keeps <think> blocks, 'off' renders without them, 'auto' uses the "
        "template default. Empty think blocks are never trained.",
    )
    validation_split: float = Field(
        default=0.1,
        ge=0,
        le=0.5,
        description="Share of conversations held out for validation when no validation file is given, 0..0.5.",
    )
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Seed for split, data order and init.")
    # --- evaluation, checkpoints, logging ----------------------------------------------------------
    eval_steps: int | None = Field(
        default=None, ge=1, description="Evaluate every N optimizer steps; None = at the end of every epoch."
    )
    save_steps: int | None = Field(
        default=None,
        ge=1,
        description="Checkpoint every N steps; None = every eval (or every epoch). Must be a multiple of "
        "eval_steps when both are set (the best checkpoint is chosen at evals).",
    )
    logging_steps: int = Field(default=1, ge=1, le=10_000, description="Emit training metrics every N steps.")
    keep_checkpoints: int = Field(
        default=2, ge=1, le=100, description="Checkpoints kept on disk (the last K; the best is always kept)."
    )
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Stop after N evals without eval-loss improvement; None = off.",
    )
    early_stopping_threshold: float = Field(
        default=0.0, ge=0, le=10, description="Smallest eval-loss decrease that counts as improvement."
    )
    final_adapter: FinalAdapter = Field(
        default="best", description="Which weights become the final adapter: lowest eval loss, or the last."
    )
    # --- hardware ---------------------------------------------------------------------------------
    precision: Precision = Field(
        default="auto", description="auto = bf16 on GPUs that support it, else fp16 on CUDA, fp32 on CPU."
    )
    gradient_checkpointing: bool = Field(
        default=True, description="Recompute activations in backward: ~30% slower, much less memory."
    )
    attention: Attention = Field(
        default="auto",
        description="Attention kernel; auto = flash_attention_2 when installed on CUDA, else sdpa.",
    )
    # --- outputs ----------------------------------------------------------------------------------
    sample_prompts: int = Field(
        default=3, ge=0, le=20, description="Held-out prompts answered by base and adapter in samples.json."
    )
    sample_max_new_tokens: int = Field(
        default=128, ge=1, le=4096, description="Reply length cap for samples."
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v != "custom" and v not in PRESET_NAMES:
            raise ValueError(f"unknown preset; use one of {', '.join(PRESET_NAMES)} or 'custom'")
        return v

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """Fill unset fields from the named preset; any explicit differing value makes it custom."""
        if not isinstance(data, dict):
            return data
        name = data.get("preset", "balanced")
        if name == "custom" or name not in PRESET_NAMES:
            return data  # an unknown name is reported by _known_preset along with the other problems
        values = preset_values(name)
        merged = {**values, **data}
        if any(k in values and data[k] != values[k] for k in data if k != "preset"):
            merged["preset"] = "custom"
        return merged

    @model_validator(mode="after")
    def _check_together(self) -> TrainingConfig:
        problems: list[str] = []
        if isinstance(self.target_modules, list) and not all(m.strip() for m in self.target_modules):
            problems.append("target_modules: empty module name; list names such as 'q_proj'")
        if isinstance(self.target_modules, list) and not self.target_modules:
            problems.append("target_modules=[]: no layers to adapt; use 'attention', 'all-linear' or names")
        if self.eval_steps and self.save_steps and self.save_steps % self.eval_steps:
            problems.append(
                f"save_steps={self.save_steps}: not a multiple of eval_steps={self.eval_steps}; "
                f"use {self.eval_steps * max(1, round(self.save_steps / self.eval_steps))}"
            )
        if self.optimizer.startswith("paged_") and self.method != "qlora":
            problems.append(f"optimizer={self.optimizer!r}: paged optimizers are for qlora; use adamw_torch")
        if self.precision == "fp16" and self.method == "qlora":
            problems.append(
                "precision='fp16' with qlora: NF4 compute is unstable in fp16; use 'auto' or 'bf16'"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


@functools.cache
def _preset_file(name: str) -> dict[str, Any]:
    text = resources.files("lorapipe.contract").joinpath("presets", f"{name}.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("values"), dict):
        raise ConfigError(f"preset file {name}.yaml has no 'values' mapping", param="preset")
    return doc


def preset_values(name: str) -> dict[str, Any]:
    """The field values a preset sets (a copy)."""
    if name not in PRESET_NAMES:
        raise ConfigError(
            f"preset={name!r}: unknown", param="preset", hint=f"use one of {', '.join(PRESET_NAMES)}"
        )
    return dict(_preset_file(name)["values"])


def preset_document(name: str) -> dict[str, Any]:
    """The whole preset file: description, source, date, values and the reason for each value."""
    preset_values(name)
    return dict(_preset_file(name))


def _describe(err: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in err.get("loc", ())) or "config"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "value_error" and field == "config":
        return msg  # cross-field problems already name their fields
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"{field}={shown}: {msg}"


def config_problems(error: ValidationError) -> list[str]:
    """One line per problem, each naming the field, the value and the fix."""
    lines: list[str] = []
    for err in error.errors(include_url=False):
        lines.extend(_describe(dict(err)).split("\n"))
    return lines


def parse_config(data: dict[str, Any]) -> TrainingConfig:
    """Validate a config mapping; raise one :class:`ConfigError` listing every problem."""
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        problems = config_problems(exc)
        raise ConfigError(
            f"{len(problems)} problem(s) in the training config: " + "; ".join(problems),
            param=_first_field(exc),
            hint="fix each listed field (ranges are in TrainingConfig's field descriptions)",
        ) from None


def _first_field(exc: ValidationError) -> str | None:
    errs = exc.errors(include_url=False)
    loc = errs[0].get("loc", ()) if errs else ()
    return ".".join(str(p) for p in loc) or None
