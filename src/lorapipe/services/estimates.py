"""Estimates for a dataset as stored: what the estimate route shows and what a new job freezes.

The web process never loads a tokenizer, so a dataset uploaded without token counts is estimated
from its character count (about 4 characters per token for English chat text); the report says
so in its assumptions, and ``POST /api/datasets/{id}/tokens`` replaces the guess with real counts.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from lorapipe.contract.config import PRESET_NAMES, TrainingConfig, parse_config
from lorapipe.datasets.report import DatasetReport
from lorapipe.errors import ConflictError
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.report import EstimateReport
from lorapipe.estimate.request import DatasetTokensIn, EstimateRequest, estimate_with_settings
from lorapipe.estimate.timing import tokens_from_report
from lorapipe.services import datasets as dataset_service
from lorapipe.settings import Settings

CHARS_PER_TOKEN = 4.0
"""Rough English chat-text ratio for Qwen3/Llama-style vocabularies (EQ-12: 4.6 with Qwen3's)."""
TEMPLATE_TOKENS_PER_MESSAGE = 4
"""Role header and end-of-turn tokens the chat template adds around each message."""


def dataset_tokens(report: DatasetReport, training: TrainingConfig) -> tuple[DatasetTokensIn, str | None]:
    """Token counts for the estimator, and the assumption made when they had to be approximated."""
    if report.tokens is not None:
        t = tokens_from_report(report, training.packing, training.validation_split)
        counted = DatasetTokensIn(
            tokens=max(t.tokens, 1),
            trained_tokens=t.trained_tokens,
            examples=t.examples,
            padding_efficiency=t.padding_efficiency,
            validation_tokens=t.validation_tokens,
        )
        return counted, None
    total = math.ceil(report.characters / CHARS_PER_TOKEN) + TEMPLATE_TOKENS_PER_MESSAGE * report.messages
    val = round(total * training.validation_split)
    trained = math.ceil(report.trained_characters / CHARS_PER_TOKEN) + report.examples  # + end-of-turn
    trained_share = min(trained / total, 1.0)
    approx = DatasetTokensIn(
        tokens=max(total - val, 1),
        trained_tokens=round((total - val) * trained_share),
        examples=max(round(report.examples * (1 - training.validation_split)), 1),
        padding_efficiency=0.9,
        validation_tokens=val,
    )
    why = (
        f"tokens approximated from {report.characters:,} characters (÷{CHARS_PER_TOKEN}) because the "
        "dataset has no token counts; count them for a tighter estimate"
    )
    return approx, why


def estimate_dataset_run(
    report: DatasetReport,
    *,
    model: str,
    training: TrainingConfig,
    settings: Settings,
    gpus: list[str] | None = None,
    budget_usd: float | None = None,
    spent_usd: float = 0.0,
    gpu_count: int = 1,
) -> EstimateReport:
    tokens, assumption = dataset_tokens(report, training)
    # Several GPUs: priced as FSDP (weights split), what the engine picks whenever a full copy per GPU
    # would not fit; QLoRA always runs data-parallel (training.distributed).
    sharding = "fsdp" if gpu_count > 1 and training.method != "qlora" else "ddp"
    request = EstimateRequest(
        model=model,
        config=EstimateConfig.from_training_config(training, gpus=gpu_count, sharding=sharding),
        dataset=tokens,
        gpus=gpus,
        budget_usd=budget_usd,
        spent_usd=spent_usd,
    )
    estimate = estimate_with_settings(request, settings)
    if assumption:
        estimate.assumptions.insert(0, assumption)
    return estimate


class DatasetEstimateRequest(BaseModel):
    """A run on a stored dataset: the model, a preset and overrides, and which GPUs to price."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255, description="Base model id.")
    preset: str = Field(default="balanced", description=f"One of {', '.join(PRESET_NAMES)}.")
    config: dict[str, Any] | None = Field(default=None, description="TrainingConfig fields to override.")
    gpus: list[str] | None = Field(default=None, description="Only these GPU ids (default: all).")
    budget_usd: float | None = Field(default=None, ge=0, description="Monthly budget, USD.")
    spent_usd: float = Field(default=0.0, ge=0, description="Already spent this month, USD.")
    approximate: bool = Field(
        default=False,
        description="When the dataset has no token counts yet, estimate from its characters (as a new job's "
        "frozen estimate does; the assumptions say so) instead of refusing with 409.",
    )


def estimate_stored_dataset(
    session: Session, settings: Settings, owner_id: str, dataset_id: str, request: DatasetEstimateRequest
) -> EstimateReport:
    """Estimate a run on the owner's dataset from its counted tokens, on every GPU and backend;
    :class:`ConflictError` until its tokens are counted (unless ``request.approximate``) or while it has
    no report."""
    dataset = dataset_service.get_dataset(session, owner_id, dataset_id)
    report = DatasetReport.model_validate(dataset.report) if dataset.report else None
    if report is None or (report.tokens is None and not request.approximate):
        raise ConflictError(
            f"dataset {dataset_id} has no token counts yet",
            param="dataset_id",
            hint=f"count them first: POST /api/datasets/{dataset_id}/tokens",
        )
    return estimate_dataset_run(
        report,
        model=request.model,
        training=parse_config({"preset": request.preset, **(request.config or {})}),
        settings=settings,
        gpus=request.gpus,
        budget_usd=request.budget_usd,
        spent_usd=request.spent_usd,
    )
