"""Estimates for a dataset as stored: what the estimate route shows and what a new job freezes.

The web process never loads a tokenizer, so a dataset uploaded without token counts is estimated
from its character count (about 4 characters per token for English chat text); the report says
so in its assumptions, and ``POST /api/datasets/{id}/tokens`` replaces the guess with real counts.
"""

from __future__ import annotations

import math

from lorapipe.contract.config import TrainingConfig
from lorapipe.datasets.report import DatasetReport
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.report import EstimateReport
from lorapipe.estimate.request import DatasetTokensIn, EstimateRequest, estimate_with_settings
from lorapipe.estimate.timing import tokens_from_report
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
) -> EstimateReport:
    tokens, assumption = dataset_tokens(report, training)
    request = EstimateRequest(
        model=model,
        config=EstimateConfig.from_training_config(training),
        dataset=tokens,
        gpus=gpus,
        budget_usd=budget_usd,
        spent_usd=spent_usd,
    )
    estimate = estimate_with_settings(request, settings)
    if assumption:
        estimate.assumptions.insert(0, assumption)
    return estimate
