from __future__ import annotations

import math

import pytest

from lorapipe.estimate.advice import build_estimate
from lorapipe.estimate.catalogue import load_catalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.priors import load_priors
from lorapipe.estimate.references import reference_models
from lorapipe.estimate.request import EstimateRequest, estimate_job
from lorapipe.estimate.timing import DatasetTokens

pytestmark = pytest.mark.unit
CAT, PRIORS = load_catalogue(), load_priors()
QWEN8 = reference_models()["Qwen/Qwen3-8B"]
NEXT = reference_models()["Qwen/Qwen3-Next-80B-A3B-Instruct"]
SMALL = DatasetTokens(
    tokens=50_000, trained_tokens=20_000, examples=40, padding_efficiency=0.9, validation_tokens=5_000
)


def _opt(report, gpu, tier):
    return next(o for o in report.options if o.gpu == gpu and o.tier == tier)


def test_small_job_on_qwen3_8b_recommends_a_fitting_priced_option():
    r = build_estimate(QWEN8, EstimateConfig(), SMALL, CAT, PRIORS)
    assert "L4" not in r.fits and "L40S" in r.fits
    assert not _opt(r, "L4", "serverless_flex").fits
    assert r.recommendation is not None and r.recommendation.reason
    picked = _opt(r, r.recommendation.gpu, r.recommendation.tier)
    assert picked.fits and picked.usable and picked.usd is not None
    assert r.cheapest.usd.mid <= picked.usd.mid
    assert any("not live" in a for a in r.assumptions)
    for o in r.options:
        if o.usd is not None:
            assert o.usd.low <= o.usd.mid <= o.usd.high


def test_qwen3_next_qlora_needs_80_gb():
    r = build_estimate(NEXT, EstimateConfig(method="qlora", batch_size=2), SMALL, CAT, PRIORS)
    assert not {"L4", "L40S", "A6000", "A100-40GB"} & set(r.fits)
    assert {"A100-80GB-SXM", "H100-SXM", "H200"} <= set(r.fits)
    assert any("experts resident" in a for a in r.assumptions)


def test_a_job_longer_than_the_ttl_goes_to_a_pod():
    huge = DatasetTokens(tokens=2_000_000_000, trained_tokens=1, examples=1_000_000, padding_efficiency=1.0)
    r = build_estimate(
        QWEN8, EstimateConfig(packing=True), huge, CAT, PRIORS, gpus=["H100-SXM", "A100-80GB-SXM"]
    )
    flex = _opt(r, "H100-SXM", "serverless_flex")
    assert not flex.usable and any("24 h TTL" in w for w in flex.warnings)
    assert r.recommendation.tier.startswith("pod")


def test_budget_and_timeout_warnings():
    r = build_estimate(
        QWEN8,
        EstimateConfig(),
        SMALL,
        CAT,
        PRIORS,
        gpus=["H100-SXM"],
        budget_usd=0.01,
        execution_timeout_s=30,
    )
    flex = _opt(r, "H100-SXM", "serverless_flex")
    assert any("over budget" in w for w in flex.warnings)
    assert any("execution timeout" in w for w in flex.warnings)
    assert r.recommendation is None and r.warnings


def test_nothing_fits_says_what_to_change():
    r = build_estimate(
        reference_models()["meta-llama/Llama-2-70b-hf"],
        EstimateConfig(batch_size=8),
        SMALL,
        CAT,
        PRIORS,
        gpus=["L4", "L40S"],
    )
    assert r.fits == [] and r.recommendation is None
    assert "qlora" in r.warnings[0]


def test_the_endpoint_function_round_trips_json():
    req = EstimateRequest.model_validate(
        {
            "model": "Qwen/Qwen3-8B",
            "config": {"method": "qlora"},
            "dataset": {"tokens": 50_000, "trained_tokens": 20_000, "examples": 40},
        }
    )
    report = estimate_job(req, facts=QWEN8, catalogue=CAT)
    again = type(report).model_validate_json(report.model_dump_json())
    assert again.recommendation == report.recommendation and again.method == "qlora"


def test_a_serverless_pick_says_which_execution_timeout_to_send():
    r = build_estimate(QWEN8, EstimateConfig(), SMALL, CAT, PRIORS, gpus=["L40S"])
    rec = r.recommendation
    # A few minutes of work: serverless wins (no pod to start, watch and stop).
    assert rec.tier == "serverless_flex"
    picked = _opt(r, rec.gpu, rec.tier)
    # 1.5 x the high estimate, in whole seconds rounded up.
    assert rec.execution_timeout_s == math.ceil(picked.hours.high * 3600 * 1.5)
    # A pod has no execution timeout to send.
    huge = DatasetTokens(tokens=2_000_000_000, trained_tokens=1, examples=1_000_000, padding_efficiency=1.0)
    pod = build_estimate(QWEN8, EstimateConfig(packing=True), huge, CAT, PRIORS, gpus=["H100-SXM"])
    assert pod.recommendation.tier.startswith("pod") and pod.recommendation.execution_timeout_s is None
    assert (
        "L40S allows 40.5 GiB"
        in _opt(
            build_estimate(NEXT, EstimateConfig(method="qlora"), SMALL, CAT, PRIORS, gpus=["L40S"]),
            "L40S",
            "pod_secure",
        ).warnings[0]
    )


def test_measured_gpu_peaks_are_reported_next_to_the_estimate():
    from lorapipe.estimate.calibration import Measurement

    def run(device, peak):
        return Measurement(
            model_id=QWEN8.id,
            device=device,
            method="lora",
            input_tokens=1000,
            train_seconds=1.0,
            flops_per_token=1e9,
            peak_memory_bytes=peak,
            predicted={"vram_bytes": 20e9},
        )

    records = [run("H100-SXM", 18e9), run("A100-80GB-SXM", 17e9), run("cpu", 99e9)]
    r = build_estimate(QWEN8, EstimateConfig(), SMALL, CAT, PRIORS, records)
    line = next(a for a in r.assumptions if a.startswith("measured:"))
    assert "2 earlier lora run(s)" in line and "0.88×" in line
    assert not any(
        a.startswith("measured:")
        for a in build_estimate(QWEN8, EstimateConfig(), SMALL, CAT, PRIORS).assumptions
    )
