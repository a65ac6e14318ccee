"""A service estimates a model it would accept, and reads no config.json at an arbitrary server path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorapipe.errors import UnknownModelError
from lorapipe.estimate.request import service_model_facts
from lorapipe.settings import Settings

pytestmark = pytest.mark.unit

CONFIG = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 1000,
}


def test_a_folder_is_read_only_under_the_allow_list(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "mine"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG))
    with pytest.raises(UnknownModelError, match="not allowed"):
        service_model_facts(str(folder), Settings(data_dir=tmp_path))
    allowed = Settings(data_dir=tmp_path, model_dirs=[tmp_path / "models"])
    facts = service_model_facts(str(folder), allowed)
    assert (facts.layers, facts.hidden, facts.vocab) == (2, 64, 1000)


def test_catalogued_and_reference_models_need_no_check(tmp_path: Path) -> None:
    assert service_model_facts("qwen3-8b", Settings(data_dir=tmp_path)).layers == 36
