"""TrainingConfig and presets: ranges, every problem at once, presets as data, custom on change."""

from __future__ import annotations

import pytest
import yaml

from lorapipe.contract.config import (
    PRESET_NAMES,
    TrainingConfig,
    parse_config,
    preset_document,
    preset_values,
)
from lorapipe.errors import ConfigError

pytestmark = pytest.mark.unit


def test_defaults_are_the_balanced_preset_file() -> None:
    config = TrainingConfig()
    assert config.preset == "balanced"
    for field, value in preset_values("balanced").items():
        assert getattr(config, field) == value, field
        # the class defaults must not drift from the data file either
        assert TrainingConfig.model_fields[field].default == value, field


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_loads_and_explains_each_key_it_sets(name: str) -> None:
    doc = preset_document(name)
    assert doc["name"] == name and doc["description"] and doc["source"] and doc["date"]
    config = TrainingConfig(preset=name)
    assert config.preset == name
    for field, value in doc["values"].items():
        assert getattr(config, field) == value
    assert set(doc["reasons"]) <= set(doc["values"]), "a reason for a value the preset does not set"


def test_presets_differ_in_the_expected_direction() -> None:
    c, b, a = (TrainingConfig(preset=n) for n in ("conservative", "balanced", "aggressive"))
    assert c.rank < b.rank < a.rank
    assert c.learning_rate < b.learning_rate < a.learning_rate
    assert all(x.alpha == 2 * x.rank for x in (c, b, a))


def test_changing_a_preset_value_makes_it_custom_and_keeps_the_rest() -> None:
    config = TrainingConfig(preset="aggressive", rank=8)
    assert config.preset == "custom"
    assert config.rank == 8 and config.learning_rate == preset_values("aggressive")["learning_rate"]
    same = TrainingConfig(preset="aggressive", rank=32)
    assert same.preset == "aggressive"


def test_a_dumped_config_reloads_identically() -> None:
    config = TrainingConfig(preset="cpu-smoke")
    again = TrainingConfig.model_validate(config.model_dump(mode="json"))
    assert again == config and again.preset == "cpu-smoke"


def test_every_problem_is_reported_at_once_with_field_value_and_fix() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"preset": "fast", "rank": 0, "learning_rate": 5.0, "dropout": 0.9, "epochs": 0, "lr": 1}
        )
    text = str(info.value)
    for expected in ("preset='fast'", "rank=0", "learning_rate=5.0", "dropout=0.9", "epochs=0", "lr=1"):
        assert expected in text, expected
    assert "6 problem(s)" in text
    assert "greater than or equal to 1" in text  # the range is the fix


def test_cross_field_problems_name_both_fields_and_suggest_a_value() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"eval_steps": 50, "save_steps": 120, "optimizer": "paged_adamw_8bit"})
    text = str(info.value)
    assert "2 problem(s)" in text
    assert "save_steps=120" in text and "eval_steps=50" in text and "use 100" in text
    assert "paged" in text and "adamw_torch" in text


def test_target_modules_accepts_the_two_names_or_a_list() -> None:
    assert TrainingConfig(target_modules="attention").target_modules == "attention"
    assert TrainingConfig(target_modules=["q_proj", "v_proj"]).target_modules == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError):
        parse_config({"target_modules": "mlp"})
    with pytest.raises(ConfigError):
        parse_config({"target_modules": []})


def test_preset_files_are_plain_yaml_data() -> None:
    from importlib import resources

    for name in PRESET_NAMES:
        text = resources.files("lorapipe.contract").joinpath("presets", f"{name}.yaml").read_text("utf-8")
        assert isinstance(yaml.safe_load(text)["values"], dict)


def test_unknown_preset_lookup_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        preset_values("quality")
