"""The manifest's memory section: the estimator's prediction for the run as it was, next to its peak."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from lorapipe.training.memory_report import current_rss_bytes, memory_report


def _model() -> Any:
    config = Qwen3Config(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    )
    model = Qwen3ForCausalLM(config)
    model.requires_grad_(False)
    return model


def _config(**changes: Any) -> SimpleNamespace:
    values = {
        "method": "lora",
        "rank": 8,
        "target_modules": "all-linear",
        "max_length": 1024,
        "batch_size": 2,
        "epochs": 1.0,
        "gradient_checkpointing": False,
        "optimizer": "adamw_torch",
        "attention": "auto",
        "packing": False,
        "dropout": 0.0,
    }
    return SimpleNamespace(**(values | changes))


def _report(model: Any, config: Any, **changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "precision": "fp32",
        "longest_row": 200,
        "loss_computation": "chunked",
        "peak_bytes": 900 * 2**20,
        "peak_measure": "rss",
        "baseline_rss_bytes": 800 * 2**20,
    }
    return memory_report(model, config, **(args | changes))


def test_prediction_prices_the_run_as_it_was() -> None:
    model = _model()
    report = _report(model, _config())
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert report["predicted_parts_bytes"]["weights"] == pytest.approx(weights, rel=0.05)
    assert report["estimate_inputs"]["max_length"] == 200  # the longest row, not max_length
    assert report["measured_peak_bytes"] == 100 * 2**20  # growth over the footprint before the model
    assert report["ratio"] == pytest.approx(100 * 2**20 / report["predicted_peak_bytes"], rel=1e-2)
    longer = _report(model, _config(), longest_row=400)
    assert longer["predicted_parts_bytes"]["activations"] == pytest.approx(
        2 * report["predicted_parts_bytes"]["activations"], rel=0.01
    )
    # the full logits cost memory the chunked loss never holds
    full = _report(model, _config(), loss_computation="model")
    assert (
        full["predicted_parts_bytes"]["logits/recompute peak"]
        > report["predicted_parts_bytes"]["logits/recompute peak"]
    )


def test_16_bit_weights_and_cuda_peaks_are_compared_as_allocated() -> None:
    model = _model().to(torch.bfloat16)
    report = _report(model, _config(), precision="bf16", peak_measure="cuda_max_allocated")
    assert report["estimate_inputs"]["base_bytes_per_param"] == 2.0
    assert report["measured_peak_bytes"] == 900 * 2**20 and report["process_baseline_bytes"] is None
    assert report["predicted_reserved_bytes"] > report["predicted_peak_bytes"]  # + CUDA context, slack


def test_an_architecture_the_estimator_cannot_read_is_reported_not_raised() -> None:
    odd = SimpleNamespace(config=SimpleNamespace(to_dict=lambda: {"model_type": "mystery"}))
    odd.named_parameters = lambda: iter(())
    assert "error" in _report(odd, _config())


def test_current_rss_is_the_resident_set_now() -> None:
    before = current_rss_bytes()
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert current_rss_bytes() - before > 48 * 2**20
    del block
