"""The catalogue loads, holds every model the product promises, and its numbers agree with each other."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lorapipe.errors import UnknownModelError
from lorapipe.models.catalog import ModelSpec, find_model_spec, get_model_spec, list_models

pytestmark = pytest.mark.unit

PROMISED = [
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-4B",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-14B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-Next-80B-A3B-Instruct",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "lorapipe/tiny-qwen3",
    "lorapipe/tiny-qwen3-realvocab",
]


def test_catalogue_has_every_promised_model() -> None:
    assert [m.id for m in list_models()] == PROMISED
    assert [m.id for m in list_models() if m.is_tiny] == [
        "lorapipe/tiny-qwen3",
        "lorapipe/tiny-qwen3-realvocab",
    ]
    assert all("tiny" in m.id for m in list_models() if m.is_tiny)


def test_lookup_by_id_or_alias_is_case_insensitive() -> None:
    assert get_model_spec("qwen3-30b-a3b").id == "Qwen/Qwen3-30B-A3B"
    assert get_model_spec("qwen/QWEN3-8B").id == "Qwen/Qwen3-8B"
    assert find_model_spec("no-such-model") is None


def test_unknown_model_error_lists_known_ids() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_model_spec("Qwen/Qwen9-1T")
    assert info.value.code == "unknown_model"
    assert info.value.param == "base_model"
    assert "Qwen/Qwen3-8B" in str(info.value) and "lorapipe/tiny-qwen3" in str(info.value)


def test_moe_and_hybrid_facts() -> None:
    moe = get_model_spec("Qwen/Qwen3-30B-A3B").moe
    assert moe is not None and (moe.experts, moe.experts_per_token, moe.expert_intermediate_size) == (
        128,
        8,
        768,
    )
    nxt = get_model_spec("Qwen/Qwen3-Next-80B-A3B-Instruct")
    assert nxt.moe is not None and (nxt.moe.experts, nxt.moe.experts_per_token, nxt.moe.shared_experts) == (
        512,
        10,
        1,
    )
    assert nxt.kv_cache_layers == 12  # one full-attention layer in four
    assert get_model_spec("Qwen/Qwen3-8B").kv_cache_layers == 36


def computed_params(spec: ModelSpec) -> tuple[float, float]:
    """(total, active) parameters in billions from the architecture, norms ignored."""
    h = spec.hidden_size
    embeddings = spec.vocab_size * h * (1 if spec.tie_word_embeddings else 2)
    gated_attention = 2 if spec.family == "qwen3_next" else 1  # Qwen3-Next's q_proj also yields a gate
    attention = h * spec.head_dim * (spec.attention_heads * (1 + gated_attention) + 2 * spec.kv_heads)
    layers_attention = attention * spec.layers
    if spec.linear_attention is not None:
        la = spec.linear_attention
        key_dim, value_dim = la.key_heads * la.key_head_dim, la.value_heads * la.value_head_dim
        linear = h * (2 * key_dim + 2 * value_dim) + value_dim * h + h * 2 * la.value_heads
        full = spec.layers // la.full_attention_interval
        layers_attention = attention * full + linear * (spec.layers - full)
    if spec.moe is None:
        mlp_total = mlp_active = 3 * h * spec.intermediate_size
    else:
        expert = 3 * h * spec.moe.expert_intermediate_size
        shared = 3 * h * (spec.moe.shared_expert_intermediate_size or 0) * spec.moe.shared_experts
        router = h * spec.moe.experts
        mlp_total = spec.moe.experts * expert + shared + router
        mlp_active = spec.moe.experts_per_token * expert + shared + router
    total = embeddings + layers_attention + spec.layers * mlp_total
    active = embeddings + layers_attention + spec.layers * mlp_active
    return total / 1e9, active / 1e9


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.id)
def test_published_parameter_counts_match_the_architecture(spec: ModelSpec) -> None:
    total, active = computed_params(spec)
    assert total == pytest.approx(spec.params_total_b, rel=0.05)
    # "A3B" names round the active count; Qwen3-Next publishes 3B for about 3.8B with embeddings.
    assert active == pytest.approx(spec.params_active_b, rel=0.3 if spec.is_moe else 0.05)


def test_catalogue_import_does_not_load_the_ml_stack() -> None:
    code = (
        "import sys, lorapipe.models.catalog as c; c.list_models(); "
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
