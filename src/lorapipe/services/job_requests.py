"""The body of ``POST /v1/fine_tuning/jobs``: OpenAI's fields (strict types, OpenAI's metadata caps) plus
ours (preset, config, backend, gpus, limits)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512


class Hyperparameters(BaseModel):
    """OpenAI's hyperparameters; ``auto`` (or absent) keeps the preset's value."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: int | Literal["auto"] | None = None
    batch_size: int | Literal["auto"] | None = None
    learning_rate_multiplier: float | Literal["auto"] | None = None

    @field_validator("n_epochs", "batch_size", "learning_rate_multiplier", mode="before")
    @classmethod
    def _auto_or_a_number(cls, value: object, info: ValidationInfo) -> object:
        """Strict, as OpenAI's API: ``"auto"`` or a positive number of the field's own type; never a
        bool, a numeric string or (for the integer fields) a float."""
        kinds: tuple[type, ...] = (int, float) if info.field_name == "learning_rate_multiplier" else (int,)
        if value is None or value == "auto":
            return value
        if (
            type(value) not in kinds or not isinstance(value, int | float) or value <= 0
        ):  # bool is not int here
            kind = "number" if float in kinds else "integer"
            raise ValueError(f"must be 'auto' or a positive {kind}, not {value!r}")
        return value


class CreateJobRequest(BaseModel):
    """``POST /v1/fine_tuning/jobs``: OpenAI's fields plus ours (preset, backend, config, limits)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255)
    training_file: str
    validation_file: str | None = None
    hyperparameters: Hyperparameters | None = None
    suffix: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = Field(
        default=None, description="Up to 16 pairs: keys up to 64 characters, values up to 512 (as OpenAI)."
    )
    method: dict[str, Any] | None = None
    integrations: list[dict[str, Any]] | None = None
    preset: str = "balanced"
    backend: str = "local"
    gpus: int | None = Field(
        default=None,
        strict=True,  # as OpenAI's integer fields: no "2", no true
        ge=1,
        le=8,
        description="GPUs to train on (1-8, default 1): an extra top-level field (the openai SDK sends it "
        "with extra_body). Several GPUs run DDP, or FSDP when the model does not fit one GPU.",
    )
    config: dict[str, Any] | None = Field(default=None, description="TrainingConfig fields to override.")
    max_attempts: int = Field(default=3, ge=1, le=10)
    timeout_s: int | None = Field(default=None, ge=1, le=2**31 - 1)
    budget_override: bool = Field(
        default=False,
        description="Create the job even when it takes this month's spend to 100 % of the budget.",
    )

    @field_validator("metadata")
    @classmethod
    def _openai_metadata(cls, metadata: dict[str, str] | None) -> dict[str, str] | None:
        if metadata is None:
            return None
        if len(metadata) > MAX_METADATA_PAIRS:
            raise ValueError(f"at most {MAX_METADATA_PAIRS} pairs, not {len(metadata)}")
        for key, value in metadata.items():
            if not 1 <= len(key) <= MAX_METADATA_KEY:
                raise ValueError(f"key {key[:20]!r}...: a key is 1-{MAX_METADATA_KEY} characters")
            if len(value) > MAX_METADATA_VALUE:
                raise ValueError(f"value of {key!r}: a value is at most {MAX_METADATA_VALUE} characters")
        return metadata
