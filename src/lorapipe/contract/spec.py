"""TrainingJobSpec: the one shape that crosses the process (and network) boundary into the engine.

Versioned JSON, validated on load on both sides. It names data and models by reference (paths or
URLs) and never carries secrets: credentials come from the worker's own environment, or a
short-lived presigned URL is the reference itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lorapipe.contract.config import TrainingConfig, config_problems
from lorapipe.errors import ConfigError

SPEC_VERSION: Literal[1] = 1
MAX_GPUS = 8
"""Most GPUs one job may ask for (one machine: 8 is the largest common node)."""
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# Metadata keys that look like credentials: the spec is logged and stored, so it must not hold them.
_SECRET_KEY = re.compile(r"(secret|password|passwd|token|api[_-]?key|credential|private[_-]?key)", re.I)


def _without_password(url: str | None, *, presign: bool = False) -> str | None:
    """``url`` unchanged, unless it carries a password: the spec is logged and stored, so it never may."""
    if url and "://" in url and urlsplit(url).password:
        fix = "use a presigned URL or worker credentials" if presign else "use worker credentials instead"
        raise ValueError(f"URL carries a password; {fix}")
    return url


class DataRef(BaseModel):
    """Where a dataset file lives: a local path, ``file://`` URL, or any fsspec URL (s3://, https://)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(min_length=1, description="Path or URL of the dataset file.")
    format: str | None = Field(
        default=None, description="Reader format name; None = canonical JSONL or detected from the file."
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Expected sha256 of the file; checked after download.",
    )

    _no_credentials = field_validator("uri")(classmethod(lambda cls, v: _without_password(v, presign=True)))


class OutputRef(BaseModel):
    """Where the finished artifacts go besides the local output directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upload_uri: str | None = Field(
        default=None, description="fsspec URL of a folder the artifacts are uploaded to (stage 'uploading')."
    )
    checkpoint_uri: str | None = Field(
        default=None,
        description="fsspec URL of a folder every checkpoint is mirrored to as it is saved; a run started "
        "with --resume on a machine without a local checkpoint continues from the newest one there.",
    )

    _no_credentials = field_validator("upload_uri", "checkpoint_uri")(
        classmethod(lambda cls, v: _without_password(v))
    )


class EvaluationRef(BaseModel):
    """What an evaluation job measures: a finished adapter against its base, on the spec's data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapter_uri: str = Field(
        min_length=1,
        description="fsspec URL (or path) of a finished adapter folder, its manifest.json included; every "
        "file is checked against the manifest's sha256 after download.",
    )
    held_out: bool = Field(
        default=True,
        description="True: evaluate on the validation file, or on the part of the training data the "
        "training run held out (same split, seed and validation_split); False: on every example of "
        "`dataset`.",
    )
    generate: int = Field(
        default=8, ge=0, le=200, description="Held-out prompts both models answer for the end-of-turn check."
    )
    max_new_tokens: int = Field(
        default=128,
        ge=1,
        le=4096,
        description="A reply that has not ended within this many tokens fails the end-of-turn check.",
    )

    _no_credentials = field_validator("adapter_uri")(classmethod(lambda cls, v: _without_password(v)))


class TrainingJobSpec(BaseModel):
    """Everything the engine needs to run one job: a training run, or (``task="evaluate"``) the
    evaluation of a finished adapter, which every backend runs the same way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(default=SPEC_VERSION, description="Spec schema version (1).")
    task: Literal["train", "evaluate"] = Field(
        default="train", description="train: train an adapter; evaluate: measure `evaluation.adapter_uri`."
    )
    job_id: str = Field(description="Job id (letters, digits, '_', '.', '-'; up to 128 characters).")
    model: str = Field(
        min_length=1, description="Base model: catalogue id, local folder, or Hugging Face hub id."
    )
    model_revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit).")
    model_cache_dir: str | None = Field(
        default=None, description="Where hub models are cached (a network volume in production)."
    )
    dataset: DataRef = Field(description="Training data.")
    validation: DataRef | None = Field(
        default=None,
        description="Validation data; None = hold out config.validation_split of the training data.",
    )
    config: TrainingConfig = Field(default_factory=TrainingConfig, description="Hyperparameters.")
    gpus: int = Field(
        default=1,
        ge=1,
        le=MAX_GPUS,
        description="GPUs to train on (1-8). With more than one the engine runs under accelerate: DDP "
        "when the model fits one GPU, FSDP when it does not; capped at the GPUs the machine has. "
        "A pod backend rents this many.",
    )
    output: OutputRef = Field(default_factory=OutputRef, description="Upload destination, if any.")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Free labels carried into the manifest (suffix, user labels)."
    )
    evaluation: EvaluationRef | None = Field(
        default=None, description="The adapter to evaluate; required when task is evaluate, else absent."
    )

    @field_validator("job_id")
    @classmethod
    def _job_id_shape(cls, v: str) -> str:
        if not _JOB_ID.match(v):
            raise ValueError("use letters, digits, '_', '.', '-' (max 128), starting with a letter or digit")
        return v

    @field_validator("metadata")
    @classmethod
    def _no_secrets(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in v if _SECRET_KEY.search(k))
        if bad:
            raise ValueError(f"keys {bad} look like secrets; secrets never travel in the job spec")
        return v

    @model_validator(mode="after")
    def _task_matches(self) -> TrainingJobSpec:
        if (self.task == "evaluate") != (self.evaluation is not None):
            raise ValueError("`evaluation` is required when task is 'evaluate' and absent otherwise")
        return self

    @classmethod
    def load(cls, path: str | Path) -> TrainingJobSpec:
        """Read and validate a spec file; every problem is reported in one :class:`ConfigError`."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"job spec {p} does not exist", param="spec") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"job spec {p} is not valid JSON: {exc}", param="spec") from None
        return cls.parse(raw)

    @classmethod
    def parse(cls, raw: Any) -> TrainingJobSpec:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = config_problems(exc)
            raise ConfigError(
                f"{len(problems)} problem(s) in the job spec: " + "; ".join(problems),
                param="spec",
                hint="fix each listed field; see TrainingJobSpec and TrainingConfig field descriptions",
            ) from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
