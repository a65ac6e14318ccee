"""Admission to the RunPod serverless endpoint at job creation: what is missing is named, a job the
endpoint's GPU cannot hold or its longest execution cannot finish is refused with the reason, and the
execution timeout is the estimate's upper time times the margin."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe.backends.registry import admit_job
from lorapipe.backends.runpod_admission import missing_configuration, plan_timeout
from lorapipe.errors import ConfigError
from lorapipe.settings import Settings

pytestmark = pytest.mark.unit


def configured(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "runpod_endpoint_id": "ep",
        "runpod_api_key": "k",
        "storage_url": "s3://bucket/x",
        "runpod_endpoint_gpu": "L40S",
    }
    return Settings(**(values | extra))  # type: ignore[arg-type]


def estimate(fits: bool = True, high_h: float = 1.0) -> dict[str, object]:
    option = {"gpu": "L40S", "gpu_name": "NVIDIA L40S 48GB", "memory_gib": 44.4, "tier": "serverless_flex"}
    return {"vram_gib": {"total": 31.8}, "options": [option | {"fits": fits, "hours": {"high": high_h}}]}


def test_what_is_missing_is_named(tmp_path: Path) -> None:
    assert "ENDPOINT_ID" in (missing_configuration(Settings(data_dir=tmp_path)) or "")
    assert "shared store" in (missing_configuration(configured(tmp_path, storage_url=None)) or "")
    assert missing_configuration(configured(tmp_path)) is None
    with pytest.raises(ConfigError, match="not configured") as refused:
        admit_job("runpod-serverless", Settings(data_dir=tmp_path), None, None)
    assert refused.value.param == "backend" and refused.value.http_status == 400
    with pytest.raises(ConfigError, match="unknown backend"):
        admit_job("runpod-pod-x", Settings(data_dir=tmp_path), None, None)


def test_timeout_from_the_estimate_and_refusals(tmp_path: Path) -> None:
    settings = configured(tmp_path, runpod_timeout_margin=2.0, runpod_max_execution_s=10 * 3600)
    assert plan_timeout(settings, estimate(high_h=1.0), None) == 7200
    assert plan_timeout(settings, estimate(high_h=0.01), None) == 600  # never under ten minutes
    assert plan_timeout(settings, None, None) == 10 * 3600  # no estimate: the endpoint's limit
    assert plan_timeout(settings, estimate(), 1800) == 1800  # the caller's own limit wins
    with pytest.raises(ConfigError, match="cannot hold"):
        plan_timeout(settings, estimate(fits=False), None)
    with pytest.raises(ConfigError, match="longest execution") as long:
        plan_timeout(settings, estimate(high_h=6.0), None)
    assert "runpod-pod" in (long.value.hint or "")
    with pytest.raises(ConfigError, match="timeout_s"):
        plan_timeout(settings, None, 11 * 3600)


def test_a_serverless_worker_has_one_gpu_a_pod_several(tmp_path: Path) -> None:
    both = configured(tmp_path, runpod_pod_gpu="H100-SXM", runpod_worker_image="reg/w:0.1.0")
    with pytest.raises(ConfigError, match="at most 1 GPU") as refused:
        admit_job("runpod-serverless", both, None, None, gpus=2)
    assert refused.value.param == "gpus" and refused.value.http_status == 400
    assert "runpod-pod" in (refused.value.hint or "")
    assert admit_job("runpod-pod", both, None, 3600, gpus=2) == 3600
    assert admit_job("local", both, None, None, gpus=2) is None
    with pytest.raises(ConfigError, match="at most 8"):
        admit_job("runpod-pod", both, None, 3600, gpus=9)
