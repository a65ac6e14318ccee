"""The estimate endpoint's contract: :class:`EstimateRequest` in, :class:`EstimateReport` out.

:func:`estimate_job` is pure (the caller resolves model facts, reads the catalogue and the
measurements), so the API route, the CLI and the job-submission path all compute the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lorapipe.estimate.advice import build_estimate
from lorapipe.estimate.calibration import Measurement
from lorapipe.estimate.catalogue import GpuCatalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.model_facts import ModelFacts
from lorapipe.estimate.priors import Priors, load_priors
from lorapipe.estimate.report import EstimateReport
from lorapipe.estimate.timing import DatasetTokens
from lorapipe.settings import Settings


class DatasetTokensIn(BaseModel):
    """Token counts of the training data per epoch (from the dataset report)."""

    model_config = ConfigDict(extra="forbid")

    tokens: int = Field(ge=1, description="Real input tokens per epoch, after truncation.")
    trained_tokens: int = Field(ge=0, description="Tokens carrying a label per epoch.")
    examples: int = Field(ge=1)
    padding_efficiency: float = Field(default=1.0, gt=0, le=1, description="Real ÷ padded tokens.")
    validation_tokens: int = Field(default=0, ge=0, description="Tokens of the validation split.")


class EstimateRequest(BaseModel):
    """What to estimate: model, run shape, data size, and the user's constraints."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="Base model id.")
    config: EstimateConfig = Field(default_factory=EstimateConfig)
    dataset: DatasetTokensIn
    gpus: list[str] | None = Field(default=None, description="Only these GPU ids (default: whole catalogue).")
    budget_usd: float | None = Field(default=None, ge=0, description="Monthly budget, USD.")
    spent_usd: float = Field(default=0.0, ge=0, description="Already spent this month, USD.")
    execution_timeout_s: float | None = Field(
        default=None, gt=0, description="The serverless endpoint's execution timeout, when fixed."
    )
    model_cached: bool = Field(default=True, description="Base model already on the network volume.")


def estimate_job(
    request: EstimateRequest,
    *,
    facts: ModelFacts,
    catalogue: GpuCatalogue,
    measurements: Sequence[Measurement] = (),
    priors: Priors | None = None,
) -> EstimateReport:
    """The report for one request; raises :class:`~lorapipe.errors.ConfigError` for an unknown GPU."""
    d = request.dataset
    data = DatasetTokens(d.tokens, d.trained_tokens, d.examples, d.padding_efficiency, d.validation_tokens)
    return build_estimate(
        facts,
        request.config,
        data,
        catalogue,
        priors or load_priors(),
        measurements,
        gpus=request.gpus,
        budget_usd=request.budget_usd,
        spent_usd=request.spent_usd,
        execution_timeout_s=request.execution_timeout_s,
        model_cached=request.model_cached,
    )


def estimate_with_settings(request: EstimateRequest, settings: Settings) -> EstimateReport:
    """:func:`estimate_job` with everything looked up: the model's facts, the catalogue (live pod
    prices when ``settings.runpod_api_key`` is set, cached a few minutes) and the measured runs
    under ``settings.data_dir``. What the API route and job submission call."""
    from lorapipe.estimate.calibration import load_measurements, measurements_path
    from lorapipe.estimate.runpod_prices import cached_catalogue

    return estimate_job(
        request,
        facts=service_model_facts(request.model, settings),
        catalogue=cached_catalogue(settings),
        measurements=load_measurements(measurements_path(settings)),
    )


def service_model_facts(model: str, settings: Settings) -> ModelFacts:
    """The facts of ``model`` as a service may look them up: the catalogue and the reference list, else
    the ``config.json`` of a model the service accepts (:func:`check_model_reference`: an allowed
    folder, or a hub id in the model cache). Never a file at an arbitrary server path."""
    from lorapipe.errors import ModelNotFoundError
    from lorapipe.estimate.model_lookup import known_model_facts, resolve_model_facts
    from lorapipe.models.references import cached_hub_folder, check_model_reference

    known = known_model_facts(model)
    if known is not None:
        return known
    checked = check_model_reference(model, settings, param="model")
    folder = Path(checked) if Path(checked).is_absolute() else cached_hub_folder(checked, settings)
    if folder is None or not folder.is_dir():
        raise ModelNotFoundError(
            f"model={model!r}: no architecture facts (not in the model catalogue or the reference list, "
            "and no config.json in this service's model cache)",
            param="model",
            hint="use a catalogued model id, or estimate once the model is downloaded",
        )
    return resolve_model_facts(model, folder)
