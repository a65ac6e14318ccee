from __future__ import annotations

import json

import pytest

from lorapipe.errors import ModelNotFoundError
from lorapipe.estimate.model_lookup import facts_from_hf_config, resolve_model_facts

pytestmark = pytest.mark.unit

TINY_CONFIG = {  # lorapipe/tiny-qwen3 (models/tiny.py): transformers' Qwen3ForCausalLM has 205,184 parameters
    "model_type": "qwen3",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
    "vocab_size": 2048,
    "tie_word_embeddings": True,
}


def test_params_counted_from_a_config_match_the_real_model():
    f = facts_from_hf_config("tiny", TINY_CONFIG)
    # the real model also has q/k norms (2 × 16 per layer): 64 parameters we ignore
    assert f.params == pytest.approx(205_184, abs=100)
    assert f.qk_norm and f.tied_embeddings and not f.is_moe


def test_catalogue_then_reference_list_then_config_json(tmp_path):
    assert resolve_model_facts("Qwen/Qwen3-8B").layers == 36
    nxt = resolve_model_facts("qwen3-next-80b-a3b")
    assert nxt.is_moe and nxt.experts == 512 and nxt.softmax_attention_layers == 12
    assert resolve_model_facts("meta-llama/Llama-3.1-70B").layers == 80
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIG))
    assert resolve_model_facts(str(tmp_path)).hidden == 64
    with pytest.raises(ModelNotFoundError):
        resolve_model_facts("nobody/nothing")
