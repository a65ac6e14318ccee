from __future__ import annotations

import dataclasses

import pytest

from lorapipe.estimate.catalogue import load_catalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.model_facts import lora_params
from lorapipe.estimate.references import reference_models
from lorapipe.estimate.vram import GIB, estimate_vram

pytestmark = pytest.mark.unit

LLAMA8 = reference_models()["meta-llama/Llama-3.1-8B"]
NEXT = reference_models()["Qwen/Qwen3-Next-80B-A3B-Instruct"]


def test_parts_add_up_to_the_total():
    est = estimate_vram(LLAMA8, EstimateConfig())
    parts = est.parts_gib()
    assert abs(sum(v for k, v in parts.items() if k != "total") - parts["total"]) < 0.3
    assert est.weights == pytest.approx(LLAMA8.params * 2.0)


def test_checkpointing_trades_memory_for_recompute():
    on = estimate_vram(LLAMA8, EstimateConfig(gradient_checkpointing=True, batch_size=4))
    off = estimate_vram(LLAMA8, EstimateConfig(gradient_checkpointing=False, batch_size=4))
    assert off.activations > 5 * on.activations
    assert off.total > on.total + 10 * GIB


def test_qlora_quantises_the_blocks_but_not_the_embeddings():
    lora = estimate_vram(LLAMA8, EstimateConfig(method="lora"))
    qlora = estimate_vram(LLAMA8, EstimateConfig(method="qlora"))
    # 6.98 B block params at ~0.52 B + 1.05 B embedding/head params at 2 B
    assert qlora.weights / 1e9 == pytest.approx(6.98 * 0.516 + 1.05 * 2, rel=0.02)
    assert qlora.weights < lora.weights / 2.5
    assert lora.total - qlora.total == pytest.approx(lora.weights - qlora.weights, rel=0.1)


def test_moe_keeps_every_expert_resident():
    est = estimate_vram(NEXT, EstimateConfig(method="qlora"))
    assert est.weights > NEXT.params * 0.5  # from total params, not the 3.9 B active ones
    dense_like = dataclasses.replace(NEXT, params=NEXT.active_params)
    assert estimate_vram(dense_like, EstimateConfig(method="qlora")).weights < est.weights / 10


def test_targeting_experts_multiplies_the_adapter_by_the_expert_count():
    without = lora_params(NEXT, 16, "all-linear")
    with_experts = lora_params(NEXT, 16, "all-linear", target_experts=True)
    expert_part = 16 * (3 * 2048 + 3 * 512) * 512 * 48
    assert with_experts - without == expert_part
    assert estimate_vram(NEXT, EstimateConfig(method="qlora", target_experts=True)).adapter > 20 * GIB


def test_fits_respects_headroom():
    cat = load_catalogue()
    est = estimate_vram(LLAMA8, EstimateConfig(batch_size=2), cat)
    assert "L4" not in est.fits and "H100-SXM" in est.fits
    l40s = cat.get("L40S")
    assert est.fits_on(l40s, 0.10) == (est.total <= 45.0 * 0.9 * GIB)
    assert not est.fits_on(l40s, 0.99)


def test_fsdp_splits_weights_across_gpus():
    one = estimate_vram(LLAMA8, EstimateConfig(sharding="fsdp", gpus=1))
    four = estimate_vram(LLAMA8, EstimateConfig(sharding="fsdp", gpus=4))
    assert four.weights == pytest.approx(one.weights / 4)
