"""``python -m lorapipe.training`` commands that need no model: validate and presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorapipe.training.__main__ import main

pytestmark = pytest.mark.unit


def test_validate_prints_the_resolved_spec_or_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps({"job_id": "j1", "model": "m", "dataset": {"uri": "d.jsonl"}, "config": {"rank": 8}})
    )
    assert main(["validate", str(good)]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["config"]["preset"] == "custom" and resolved["config"]["alpha"] == 32

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"job_id": "j1", "model": "m", "dataset": {"uri": "d"}, "config": {"rank": 0, "alpha": 0}})
    )
    assert main(["validate", str(bad)]) == 2
    error = json.loads(capsys.readouterr().err)
    assert (
        error["code"] == "invalid_config"
        and "config.rank=0" in error["message"]
        and "config.alpha=0" in error["message"]
    )


def test_presets_command_lists_values_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    presets = json.loads(capsys.readouterr().out)
    assert set(presets) == {"conservative", "balanced", "aggressive", "cpu-smoke"}
    assert presets["balanced"]["reasons"]["learning_rate"]
