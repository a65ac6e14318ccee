"""SmolLM2-135M-Instruct (packaged, offline) on EQ-12 with the cpu-smoke preset, as a process:
validation loss after training is below the loss before it, and samples.json holds both replies; then
the evaluation task measures that adapter against its base on EQ-12's held-out split (loss, perplexity,
per persona, end of turn). Slow: a few minutes of CPU (GGUF conversion on first use, ~8 steps of
~1,000-token examples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_process import run_engine

from lorapipe.contract.events import ExitCode
from lorapipe.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EQ12 = Path(__file__).resolve().parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


@pytest.fixture(scope="module")
def trained(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, int, list[dict[str, Any]]]:
    """SmolLM2 trained on EQ-12 through the engine process: (spec, output folder, exit code, events)."""
    root = tmp_path_factory.mktemp("smollm2")
    spec = root / "spec.json"
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
    out = root / "out"
    code, events = run_engine(spec, out, model_settings)
    return spec, out, code, events


def test_smollm2_learns_eq12_on_cpu(trained: tuple[Path, Path, int, list[dict[str, Any]]]) -> None:
    _, out, code, events = trained
    assert code == ExitCode.SUCCESS, events[-3:]
    metrics = events[-1]["metrics"]
    assert metrics["eval_loss_after"] < metrics["eval_loss_before"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["preset"] == "cpu-smoke"
    samples = json.loads((out / "samples.json").read_text())["samples"]
    assert len(samples) == 2
    for s in samples:
        assert s["base"].strip() and s["adapter"].strip() and s["reference"]


def test_the_smollm2_adapter_is_evaluated_against_its_base_on_the_held_out_split(
    trained: tuple[Path, Path, int, list[dict[str, Any]]], model_settings: Settings, tmp_path: Path
) -> None:
    """The evaluation task, as `lorapipe adapters eval` runs it, on the split the training held out."""
    spec, out, code, events = trained
    assert code == ExitCode.SUCCESS, events[-3:]
    metrics = events[-1]["metrics"]
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(
        json.dumps(
            {
                **json.loads(spec.read_text()),
                "job_id": "smollm2-eq12-eval",
                "task": "evaluate",
                "evaluation": {"adapter_uri": str(out), "generate": 2, "max_new_tokens": 32},
            }
        )
    )
    code, events = run_engine(evaluation, tmp_path / "eval", model_settings)
    assert code == ExitCode.SUCCESS, events[-3:]
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    summary = report["summary"]
    print(
        f"\nSmolLM2 on EQ-12's held-out split ({summary['examples']} examples): loss base "
        f"{summary['base']['loss']:.4f} -> adapter {summary['adapter']['loss']:.4f}, perplexity "
        f"{summary['base']['perplexity']:.2f} -> {summary['adapter']['perplexity']:.2f}, replies ended "
        f"{summary['base']['ended_share']} -> {summary['adapter']['ended_share']}"
    )
    assert summary["adapter"]["loss"] < summary["base"]["loss"]
    # The same numbers as the training run's own evaluations (per token here, per batch there).
    assert summary["base"]["loss"] == pytest.approx(metrics["eval_loss_before"], rel=0.05)
    assert summary["adapter"]["loss"] == pytest.approx(metrics["eval_loss_after"], rel=0.05)
    assert report["categories"]["persona_archetype"]
    assert len(report["end_of_turn"]["replies"]) == 2
