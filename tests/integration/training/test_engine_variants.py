"""Short runs of the other code paths: packing (padding-free batches), DoRA, rsLoRA, no validation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from training_fixtures import tiny_spec

from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.settings import Settings
from lorapipe.training.events import EventWriter
from lorapipe.training.run import run

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("overrides", "adapter_key", "adapter_value"),
    [
        ({"packing": True}, "use_dora", False),
        ({"method": "dora", "target_modules": "attention"}, "use_dora", True),
        ({"method": "rslora", "target_modules": ["q_proj", "v_proj"]}, "use_rslora", True),
        ({"validation_split": 0.0, "eval_steps": None, "save_steps": 4}, "use_dora", False),
    ],
)
def test_variant_trains_and_writes_its_adapter(
    overrides: dict,
    adapter_key: str,
    adapter_value: bool,
    arithmetic_dataset: Path,
    model_settings: Settings,
    tmp_path: Path,
) -> None:
    spec = TrainingJobSpec.parse(tiny_spec(arithmetic_dataset, max_steps=8, sample_prompts=1, **overrides))
    result = run(spec, tmp_path, EventWriter(io.StringIO(), None), settings=model_settings)
    s = result.summary
    assert s["steps"] == 8 and s["train_loss_last"] < s["train_loss_first"]
    adapter_config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert adapter_config[adapter_key] is adapter_value
    if "target_modules" in overrides and isinstance(overrides["target_modules"], list):
        assert set(adapter_config["target_modules"]) == {"q_proj", "v_proj"}
    if overrides.get("packing"):
        # Measured on the packing collator's batches (test_packing.py): flattening pads nothing. A
        # collator that pads (packing silently not applied) reports less.
        assert s["padding_efficiency"] == 1.0
    if overrides.get("validation_split") == 0.0:
        assert s["eval_loss_before"] is None and (tmp_path / "samples.json").exists()


def test_early_stopping_ends_the_run_at_the_first_stale_eval(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    spec = TrainingJobSpec.parse(
        tiny_spec(
            arithmetic_dataset,
            max_steps=20,
            eval_steps=4,
            save_steps=4,
            sample_prompts=0,
            early_stopping_patience=1,
            early_stopping_threshold=10.0,  # no drop of 10 nats: stale at once
        )
    )
    stream = io.StringIO()
    result = run(spec, tmp_path, EventWriter(stream, None), settings=model_settings)
    assert result.summary["steps"] == 4
    warnings = [json.loads(x) for x in stream.getvalue().splitlines() if '"warning"' in x]
    assert [w["code"] for w in warnings] == ["early_stopped"]
    assert (tmp_path / "adapter_model.safetensors").exists()
