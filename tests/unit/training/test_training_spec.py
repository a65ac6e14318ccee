"""TrainingJobSpec: versioned, validated on load, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import ConfigError

pytestmark = pytest.mark.unit

GOOD = {"job_id": "ftjob-1", "model": "lorapipe/tiny-qwen3", "dataset": {"uri": "/data/train.jsonl"}}


def test_round_trip_through_json(tmp_path: Path) -> None:
    spec = TrainingJobSpec.parse({**GOOD, "config": {"preset": "cpu-smoke"}, "metadata": {"suffix": "eq"}})
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    again = TrainingJobSpec.load(path)
    assert again == spec
    assert json.loads(path.read_text())["version"] == 1
    assert again.config.preset == "cpu-smoke"


def test_all_problems_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        TrainingJobSpec.parse({"job_id": "has space", "dataset": {"uri": ""}, "config": {"rank": -1}, "x": 1})
    text = str(info.value)
    for part in ("job_id='has space'", "model", "dataset.uri", "config.rank=-1", "x=1"):
        assert part in text, part


@pytest.mark.parametrize(
    "bad",
    [
        {"metadata": {"HF_TOKEN": "hf_abc"}},
        {"metadata": {"aws_secret_access_key": "x"}},
        {"dataset": {"uri": "https://user:pw@example.com/d.jsonl"}},
        {"output": {"upload_uri": "s3://key:secret@bucket/x"}},
        {"output": {"checkpoint_uri": "s3://key:secret@bucket/ckpt"}},
        {"task": "evaluate", "evaluation": {"adapter_uri": "https://u:pw@example.com/adapter"}},
    ],
)
def test_secrets_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError) as info:
        TrainingJobSpec.parse({**GOOD, **bad})
    assert "secret" in str(info.value) or "password" in str(info.value)


def test_unknown_version_and_bad_json_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        TrainingJobSpec.parse({**GOOD, "version": 2})
    path = tmp_path / "spec.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainingJobSpec.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainingJobSpec.load(tmp_path / "missing.json")
