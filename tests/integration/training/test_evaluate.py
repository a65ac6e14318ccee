"""The evaluation task: a trained tiny adapter measured against its base on the run's held-out split,
through the engine's process boundary (``python -m lorapipe.training run`` with ``task: evaluate``)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from training_fixtures import tiny_spec

from lorapipe.contract.conversation import Example, Message
from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.settings import Settings
from lorapipe.training.events import EventWriter
from lorapipe.training.run import run

pytestmark = pytest.mark.integration


def _engine(spec: dict[str, Any], out: Path, settings: Settings) -> tuple[int, list[dict[str, Any]]]:
    """``python -m lorapipe.training run`` on ``spec``: its exit code and events."""
    path = out.parent / f"{out.name}.spec.json"
    path.write_text(json.dumps(spec), "utf-8")
    events = out.parent / f"{out.name}.events.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lorapipe.training",
            "run",
            str(path),
            "--out",
            str(out),
            "--events-file",
            str(events),
        ],
        env={**os.environ, "LORAPIPE_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [json.loads(x) for x in events.read_text("utf-8").splitlines()] if events.exists() else []
    assert done.returncode == 0 or lines, done.stderr[-3000:]
    return done.returncode, lines


def _categorised(path: Path) -> Path:
    """The arithmetic chats with a scaffolding topic: sums under 50 are 'small', the rest 'large'."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(80):
            a, b = (i * 7) % 50 + 1, (i * 13) % 50 + 1
            ex = Example(
                id=f"ex{i}",
                conversation_id=f"c{i // 2}",
                messages=(
                    Message("system", "You add numbers."),
                    Message("user", f"What is {a} plus {b}?"),
                    Message("assistant", f"{a} plus {b} is {a + b}.", trained=True),
                ),
                metadata={"training_topic_key": "small" if a + b < 50 else "large"},
            )
            fh.write(json.dumps(ex.to_dict()) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("evaluate")
    data = _categorised(root / "arith.jsonl")
    spec = tiny_spec(data, max_steps=30, validation_split=0.25, sample_prompts=0)
    out = root / "run"
    result = run(TrainingJobSpec.parse(spec), out, EventWriter(None, None), settings=model_settings)
    return spec, out, result.summary


def _evaluation_spec(train: dict[str, Any], adapter: Path, **evaluation: Any) -> dict[str, Any]:
    return {
        **train,
        "job_id": "tiny-eval",
        "task": "evaluate",
        "evaluation": {"adapter_uri": str(adapter), "generate": 3, "max_new_tokens": 12, **evaluation},
    }


def test_the_adapter_beats_its_base_on_the_held_out_split_per_category_too(
    trained: tuple[dict[str, Any], Path, dict[str, Any]], model_settings: Settings, tmp_path: Path
) -> None:
    spec, adapter, training = trained
    code, events = _engine(_evaluation_spec(spec, adapter), tmp_path / "eval", model_settings)
    assert code == 0, events[-3:]
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text("utf-8"))
    summary = report["summary"]
    # 40 conversations, a quarter held out with the training run's own split: 10 conversations, 20 chats.
    assert summary["examples"] == 20
    base, tuned = summary["base"], summary["adapter"]
    # The same examples, encoded the same way, as the training run's own evaluations before and after:
    # the figures agree with the Trainer's (which averages per batch, not per token: a small difference).
    assert base["loss"] == pytest.approx(training["eval_loss_before"], rel=0.03), (summary, training)
    assert tuned["loss"] == pytest.approx(training["eval_loss_after"], rel=0.03), (summary, training)
    assert tuned["loss"] < base["loss"] - 0.1, summary
    assert math.isclose(tuned["perplexity"], math.exp(tuned["loss"]), rel_tol=1e-3)
    assert summary["loss_change"] == pytest.approx(tuned["loss"] - base["loss"], abs=1e-5)
    # Per category: both values present, their examples adding up to the whole, each better.
    topics = {row["value"]: row for row in report["categories"]["training_topic_key"]}
    assert set(topics) == {"small", "large"}
    assert sum(row["examples"] for row in topics.values()) == 20
    assert all(row["adapter"]["loss"] < row["base"]["loss"] for row in topics.values())
    # The end-of-turn check answered three prompts with both models.
    replies = report["end_of_turn"]["replies"]
    assert len(replies) == 3 and all({"base", "adapter"} <= set(r) for r in replies)
    assert all(r[who]["tokens"] <= 12 for r in replies for who in ("base", "adapter"))
    assert tuned["ended_share"] == sum(r["adapter"]["ended"] for r in replies) / 3
    # The result event carries the summary; the manifest checksums the report.
    result = events[-1]
    assert result["type"] == "result" and result["status"] == "succeeded"
    assert result["metrics"]["adapter"]["loss"] == tuned["loss"]
    manifest = json.loads((tmp_path / "eval" / "manifest.json").read_text("utf-8"))
    assert manifest["task"] == "evaluate"
    assert [f["path"] for f in manifest["files"]] == ["evaluation.json", "metrics.jsonl"]


def test_a_given_file_is_evaluated_whole(
    trained: tuple[dict[str, Any], Path, dict[str, Any]], tmp_path: Path, model_settings: Settings
) -> None:
    spec, adapter, _ = trained
    other = _categorised(tmp_path / "other.jsonl")
    given = {**spec, "dataset": {"uri": str(other)}}
    code, _ = _engine(
        _evaluation_spec(given, adapter, held_out=False, generate=0), tmp_path / "eval", model_settings
    )
    assert code == 0
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text("utf-8"))
    assert report["summary"]["examples"] == 80
    assert report["end_of_turn"]["replies"] == [] and report["summary"]["adapter"]["ended_share"] is None


def test_a_tampered_adapter_file_fails_the_evaluation_with_its_name(
    trained: tuple[dict[str, Any], Path, dict[str, Any]], tmp_path: Path, model_settings: Settings
) -> None:
    spec, adapter, _ = trained
    copy = tmp_path / "adapter"
    copy.mkdir()
    for f in adapter.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    config = copy / "adapter_config.json"
    config.write_text(config.read_text("utf-8") + " ", "utf-8")
    code, events = _engine(_evaluation_spec(spec, copy), tmp_path / "eval", model_settings)
    assert code != 0
    error = next(e for e in events if e["type"] == "error")
    assert error["code"] == "artifact_integrity" and "adapter_config.json" in error["message"]
