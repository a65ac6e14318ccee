"""VRAM, time and cost estimates before a job, and cost accounting after it.

Public API (pure functions over small typed inputs; no torch):

- :func:`load_catalogue` / :func:`refresh_catalogue` — GPUs and prices (source + date each)
- :func:`estimate_vram` — peak memory by part and the GPUs it fits
- :func:`estimate_time` — seconds by part as a range, calibrated from :class:`Measurement` records
- :func:`build_estimate` — every GPU × backend, cheapest, fastest, a recommendation, warnings
- :func:`estimate_job` — the endpoint's entry point (request in, report out)
- :func:`serverless_actual_cost`, :func:`pod_actual_cost`, :func:`check_budget` — after the fact
"""

from lorapipe.estimate.advice import build_estimate
from lorapipe.estimate.budget import BudgetDecision, check_budget, crossed_thresholds
from lorapipe.estimate.calibration import (
    Measurement,
    append_measurement,
    load_measurements,
    measurement_from_manifest,
    measurements_path,
)
from lorapipe.estimate.catalogue import GpuCatalogue, GpuSpec, load_catalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.cost import PricedCost, pod_actual_cost, serverless_actual_cost, storage_cost
from lorapipe.estimate.model_facts import ModelFacts, facts_from_spec
from lorapipe.estimate.model_lookup import resolve_model_facts
from lorapipe.estimate.priors import load_priors
from lorapipe.estimate.report import EstimateReport
from lorapipe.estimate.request import EstimateRequest, estimate_job, estimate_with_settings
from lorapipe.estimate.runpod_prices import refresh_catalogue
from lorapipe.estimate.timing import DatasetTokens, estimate_time, tokens_from_report
from lorapipe.estimate.vram import VramEstimate, estimate_vram

__all__ = [
    "BudgetDecision",
    "DatasetTokens",
    "EstimateConfig",
    "EstimateReport",
    "EstimateRequest",
    "GpuCatalogue",
    "GpuSpec",
    "Measurement",
    "ModelFacts",
    "PricedCost",
    "VramEstimate",
    "append_measurement",
    "build_estimate",
    "check_budget",
    "crossed_thresholds",
    "estimate_job",
    "estimate_time",
    "estimate_vram",
    "estimate_with_settings",
    "facts_from_spec",
    "load_catalogue",
    "load_measurements",
    "load_priors",
    "measurement_from_manifest",
    "measurements_path",
    "pod_actual_cost",
    "refresh_catalogue",
    "resolve_model_facts",
    "serverless_actual_cost",
    "storage_cost",
    "tokens_from_report",
]
