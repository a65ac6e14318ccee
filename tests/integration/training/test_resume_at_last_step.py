"""A run stopped after its last step (a cancel during the final evaluation or the save) resumes to the
same adapter without training past ``max_steps``: transformers' loop would take one more step before
checking (seen as "Step 13/12" when a service restart adopted a run at its end)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file
from training_fixtures import tiny_spec

from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.settings import Settings
from lorapipe.training.events import EventWriter
from lorapipe.training.run import run

pytestmark = pytest.mark.integration


def test_a_checkpoint_at_the_last_step_resumes_without_another_step(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    spec = TrainingJobSpec.parse(
        tiny_spec(arithmetic_dataset, max_steps=4, save_steps=2, eval_steps=2, sample_prompts=0)
    )
    first = tmp_path / "first"
    run(spec, first, EventWriter(io.StringIO(), first / "metrics.jsonl"), settings=model_settings)
    last = first / "checkpoints" / "checkpoint-4"
    assert last.is_dir()

    # A fresh folder holding only the checkpoints, as a retry on another machine finds them.
    again = tmp_path / "again"
    shutil.copytree(first / "checkpoints", again / "checkpoints")
    stream = io.StringIO()
    result = run(
        spec, again, EventWriter(stream, again / "metrics.jsonl"), resume=True, settings=model_settings
    )
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert max(e["step"] for e in events if e["type"] == "metrics") == 4
    assert result.summary["steps"] == 4
    saved, at_last = (
        load_file(again / "adapter_model.safetensors"),
        load_file(last / "adapter_model.safetensors"),
    )
    assert saved.keys() == at_last.keys()
    assert all(saved[k].equal(at_last[k]) for k in saved)
