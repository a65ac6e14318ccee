from __future__ import annotations

import pytest

from lorapipe.errors import ConfigError
from lorapipe.estimate.budget import check_budget, crossed_thresholds
from lorapipe.estimate.catalogue import load_catalogue
from lorapipe.estimate.cost import (
    estimate_error,
    estimated_cost,
    local_actual_cost,
    pod_actual_cost,
    serverless_actual_cost,
    storage_cost,
)
from lorapipe.estimate.priors import Triple

pytestmark = pytest.mark.unit
CAT = load_catalogue()


def test_serverless_cost_from_runpod_status_timings():
    rec = serverless_actual_cost(CAT, "H100-SXM", execution_ms=100_000, delay_ms=20_000)
    # 100 s execution + 5 s idle at least; + up to 20 s cold start hidden in delayTime
    assert rec.usd_low == pytest.approx(105 * 0.00116)
    assert rec.usd_high == pytest.approx(125 * 0.00116)
    assert rec.usd == rec.usd_high and rec.billed_seconds == 125
    assert rec.price_date is not None and "serverless" in rec.price_source
    exact = serverless_actual_cost(
        CAT, "H100-SXM", execution_ms=100_000, delay_ms=20_000, cold_start_ms=7_500, gpu_count=2
    )
    assert exact.usd_low == exact.usd_high == pytest.approx(113 * 0.00116 * 2)


def test_pod_and_storage_and_local_costs():
    pod = pod_actual_cost(CAT, "A100-80GB-SXM", runtime_s=1800, tier="pod_community")
    assert pod.usd == pytest.approx(0.5 * 1.39)
    vol = storage_cost(240, 30 * 24 * 3600, 0.07, what="network volume", source="docs.runpod.io")
    assert vol.usd == pytest.approx(240 * 0.07)
    assert local_actual_cost(60, "cpu").usd == 0.0


def test_a_gpu_without_a_price_is_an_error_not_zero():
    with pytest.raises(ConfigError):
        pod_actual_cost(CAT, "A6000", runtime_s=100)


def test_estimated_cost_rounds_seconds_up_and_compares_with_actual():
    est = estimated_cost(Triple(0.2, 10.5, 20.0), 0.001, 2)
    assert est == Triple(0.002, 0.022, 0.04)
    err = estimate_error(est, 0.02)
    assert err["within_range"] and err["error_pct"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("spent", "job", "override", "level", "allowed"),
    [
        (10, 5, False, "ok", True),
        (70, 15, False, "notify", True),
        (90, 15, False, "block", False),
        (90, 15, True, "override", True),
        (100, 0, False, "block", False),
    ],
)
def test_budget_levels(spent, job, override, level, allowed):
    d = check_budget(spent, job, 100.0, override=override)
    assert (d.level, d.allowed) == (level, allowed)
    assert f"${spent:.2f}" in d.message


def test_no_budget_and_threshold_crossings():
    assert check_budget(1e6, 1e6, None).allowed
    assert crossed_thresholds(70, 85, 100) == [0.8]
    assert crossed_thresholds(70, 120, 100) == [0.8, 1.0]
    assert crossed_thresholds(85, 90, 100) == []
    assert crossed_thresholds(0, 10, None) == []
