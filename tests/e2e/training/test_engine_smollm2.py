"""SmolLM2-135M-Instruct (packaged, offline) on EQ-12 with the cpu-smoke preset, as a process:
validation loss after training is below the loss before it, and samples.json holds both replies.
Slow: a few minutes of CPU (GGUF conversion on first use, ~8 steps of ~1,000-token examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_process import run_engine

from lorapipe.contract.events import ExitCode
from lorapipe.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EQ12 = Path(__file__).resolve().parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def test_smollm2_learns_eq12_on_cpu(model_settings: Settings, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "job_id": "smollm2-eq12",
                "model": "smollm2-135m-instruct",
                "dataset": {"uri": str(EQ12)},
                "config": {"preset": "cpu-smoke"},
            }
        )
    )
    out = tmp_path / "out"
    code, events = run_engine(spec, out, model_settings)
    assert code == ExitCode.SUCCESS, events[-3:]
    metrics = events[-1]["metrics"]
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["preset"] == "cpu-smoke"
    samples = json.loads((out / "samples.json").read_text())["samples"]
    assert len(samples) == 2
    for s in samples:
        assert s["base"].strip() and s["adapter"].strip() and s["reference"]
