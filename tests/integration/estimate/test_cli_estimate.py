"""``lorapipe estimate`` end to end through Typer, on the packaged EQ-12 sample."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from typer.testing import CliRunner

from lorapipe.cli.main import app

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def settings_env(tmp_path, monkeypatch, model_settings):
    monkeypatch.setenv("LORAPIPE_DATA_DIR", str(tmp_path))
    # the session's shared model cache: the real Qwen tokenizer is converted once per test session
    monkeypatch.setenv("LORAPIPE_MODEL_CACHE_DIR", str(model_settings.resolved_model_cache_dir))
    monkeypatch.delenv("LORAPIPE_RUNPOD_API_KEY", raising=False)
    from lorapipe.settings import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_job_from_token_counts_prints_the_comparison(settings_env):
    r = runner.invoke(
        app,
        [
            "estimate",
            "job",
            "--model",
            "Qwen/Qwen3-8B",
            "--tokens",
            "200000",
            "--examples",
            "100",
            "--catalogue",
        ],
    )
    assert r.exit_code == 0, r.output
    for text in (
        "GPUs and backends",
        "L40S",
        "H100-SXM",
        "serverless flex $",
        "pod secure $",
        "recommended",
        "assumptions",
        "catalogue prices as of 2026-11-28",
    ):
        assert text in r.output
    assert "★" in r.output


def test_job_json_on_the_eq12_sample_with_the_real_tokenizer(settings_env):
    sample = resources.files("lorapipe.samples") / "eq12" / "EQ-12-conversations-demo.jsonl"
    r = runner.invoke(
        app,
        [
            "estimate",
            "job",
            str(sample),
            "--model",
            "Qwen/Qwen3-Next-80B-A3B-Instruct",
            "--method",
            "qlora",
            "--batch-size",
            "2",
            "--json",
            "--catalogue",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["tokens"]["tokens_per_epoch"] > 10_000
    assert "A6000" not in report["fits"] and "H100-SXM" in report["fits"]
    assert report["recommendation"]["reason"]


def test_unknown_gpu_is_one_clear_error(settings_env):
    r = runner.invoke(app, ["estimate", "job", "--tokens", "1000", "--gpu", "V100", "--catalogue"])
    assert r.exit_code == 2
    assert "V100" in r.output and "not in the GPU catalogue" in r.output


def test_gpus_and_references_tables(settings_env):
    r = runner.invoke(app, ["estimate", "gpus", "--catalogue"])
    assert r.exit_code == 0 and "B200" in r.output and "rp_serverless" in r.output
    r = runner.invoke(app, ["estimate", "references"])
    assert r.exit_code == 0
    assert "17/17 within tolerance" in r.output


def test_record_adds_a_finished_run_to_the_calibration_store(settings_env, tmp_path):
    from lorapipe.contract.config import TrainingConfig
    from lorapipe.estimate.calibration import load_measurements

    run = tmp_path / "run"
    run.mkdir()
    manifest = {
        "base_model": "lorapipe/tiny-qwen3",
        "job_id": "job-7",
        "config": TrainingConfig(preset="cpu-smoke").model_dump(mode="json"),
        "timings_s": {
            "downloading": 0.2,
            "loading_model": 0.3,
            "tokenizing": 0.1,
            "training": 6.0,
            "saving": 0.4,
        },
        "dataset": {
            "train": {"tokens": 4000, "examples_used": 40},
            "validation": {"tokens": 400},
            "padding_efficiency": 0.8,
        },
        "metrics": {"epochs": 1.0, "evals": [{}, {}], "peak_memory_bytes": 5 << 20},
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    events = [
        {"type": "metrics", "phase": "train", "step": s, "elapsed_s": 1.0 + 0.5 * s} for s in range(1, 9)
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(e) for e in events))
    r = runner.invoke(app, ["estimate", "record", str(run / "manifest.json"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    [m] = load_measurements(settings_env / "estimate" / "measurements.jsonl")
    assert m.job_id == "job-7" and m.device == "cpu" and m.input_tokens == 4000
    assert m.train_seconds == pytest.approx(4.0) and m.stage_overhead_seconds == pytest.approx(2.0)
