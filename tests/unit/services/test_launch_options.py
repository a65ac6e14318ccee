"""The new-job page's choices as data: every TrainingConfig field with the range and help its schema
declares, in the advanced panel's groups; backends ready or not with the reason; model sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe.contract.config import TrainingConfig
from lorapipe.services.launch_options import GROUPS, backend_choices, config_fields, launch_options
from lorapipe.settings import Settings

pytestmark = pytest.mark.unit


def test_every_field_once_with_its_range_and_help() -> None:
    fields = {f.name: f for f in config_fields()}
    assert set(fields) == set(TrainingConfig.model_fields) - {"version", "preset"}
    assert sum(len(names) for names in GROUPS.values()) == len(fields)
    lr = fields["learning_rate"]
    assert (lr.kind, lr.minimum, lr.maximum, lr.exclusive_minimum) == ("number", 0, 0.01, True)
    assert lr.range_text == ">0..0.01" and lr.help.startswith("Peak learning rate")
    steps = fields["max_steps"]
    assert steps.kind == "integer" and steps.optional and steps.range_text == "1..1e+06 or empty"
    assert fields["method"].kind == "choice" and fields["method"].choices == [
        "lora",
        "qlora",
        "dora",
        "rslora",
    ]
    assert fields["packing"].kind == "boolean" and fields["target_modules"].kind == "modules"
    assert all(f.help for f in fields.values())


def test_backends_say_why_they_cannot_run(tmp_path: Path) -> None:
    plain = {b.name: b for b in backend_choices(Settings(data_dir=tmp_path))}
    assert plain["local"].ready and not plain["runpod-serverless"].ready
    assert "LORAPIPE_RUNPOD_ENDPOINT_ID" in (plain["runpod-serverless"].why_not or "")
    configured = Settings(
        data_dir=tmp_path, runpod_endpoint_id="ep", runpod_api_key="k", storage_url="s3://bucket/lorapipe"
    )
    assert {b.name: b.ready for b in backend_choices(configured)}["runpod-serverless"]
    assert plain["runpod-serverless"].max_gpus == 1


def test_model_sizes_read_as_people_write_them(tmp_path: Path) -> None:
    from lorapipe.db import create_engine_for, make_sessionmaker
    from lorapipe.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    with make_sessionmaker(create_engine_for(url))() as session:
        options = launch_options(session, Settings(data_dir=tmp_path, database_url=url), "user-nobody")
    sizes = {m.id: m.size for m in options.models}
    assert sizes["Qwen/Qwen3-8B"] == "8.2B"
    assert sizes["Qwen/Qwen3-30B-A3B"] == "30.5B (3.3B active)"
    assert sizes["HuggingFaceTB/SmolLM2-135M-Instruct"] == "135M"
    assert options.datasets == [] and options.budget_usd is None and options.spent_usd == 0
