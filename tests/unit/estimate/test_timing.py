from __future__ import annotations

import pytest

from lorapipe.estimate.calibration import Measurement
from lorapipe.estimate.catalogue import load_catalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.priors import load_priors
from lorapipe.estimate.references import reference_models
from lorapipe.estimate.throughput import flops_per_token
from lorapipe.estimate.timing import DatasetTokens, estimate_time

pytestmark = pytest.mark.unit

QWEN8 = reference_models()["Qwen/Qwen3-8B"]
NEXT = reference_models()["Qwen/Qwen3-Next-80B-A3B-Instruct"]
CAT, PRIORS = load_catalogue(), load_priors()
DATA = DatasetTokens(tokens=10_000_000, trained_tokens=4_000_000, examples=10_000, padding_efficiency=0.8)


def test_lora_flops_are_4n_plus_2n_with_recompute():
    n = QWEN8.active_matmul_params
    plain = flops_per_token(QWEN8, EstimateConfig(gradient_checkpointing=False), 1.0)
    ckpt = flops_per_token(QWEN8, EstimateConfig(gradient_checkpointing=True), 1.0)
    assert plain == pytest.approx(4 * n, rel=0.001)
    assert ckpt == pytest.approx(6 * n, rel=0.001)
    # long contexts add the attention term
    assert flops_per_token(QWEN8, EstimateConfig(), 4096) > ckpt * 1.05


def test_moe_compute_follows_active_params():
    assert flops_per_token(NEXT, EstimateConfig(), 512) < flops_per_token(QWEN8, EstimateConfig(), 512) / 1.5


def test_training_time_is_linear_in_tokens_and_a_proper_range():
    cfg = EstimateConfig()
    one = estimate_time(QWEN8, cfg, DATA, "H100-SXM", "pod", CAT, PRIORS)
    two = estimate_time(QWEN8, cfg.model_copy(update={"epochs": 6}), DATA, "H100-SXM", "pod", CAT, PRIORS)
    assert two.training.mid == pytest.approx(2 * one.training.mid)
    assert one.training.low < one.training.mid < one.training.high
    assert one.total.low < one.total.mid < one.total.high
    assert "pod start" in one.fixed and "cold start" not in one.fixed


def test_worked_example_qwen3_8b_on_h100():
    # Qwen3-8B (N ≈ 8.2 B), packed, LoRA with checkpointing (k = 6 FLOPs per param-token: forward 2N, input
    # gradients 2N, recompute 2N), MFU 30 % of the H100 SXM's 989 dense BF16 TFLOPS (NVIDIA datasheet):
    # 989e12 × 0.30 / (6 × 8.2e9) ≈ 6.0 k tok/s. Sanity: the pytorch/torchtune README measures 3.1-4.7 k tok/s
    # for Llama-3.1-8B LoRA on the slower RTX 4090 / A6000.
    data = DatasetTokens(tokens=20_000_000, trained_tokens=8_000_000, examples=20_000, padding_efficiency=1.0)
    t = estimate_time(QWEN8, EstimateConfig(packing=True), data, "H100-SXM", "pod", CAT, PRIORS)
    assert 4_000 < t.throughput.tokens_per_s.mid < 8_000
    assert t.throughput.tokens_per_s.low < 6_000 < t.throughput.tokens_per_s.high


def test_qlora_is_slower_and_faster_gpus_are_faster():
    lora = estimate_time(QWEN8, EstimateConfig(), DATA, "H100-SXM", "pod", CAT, PRIORS)
    qlora = estimate_time(QWEN8, EstimateConfig(method="qlora"), DATA, "H100-SXM", "pod", CAT, PRIORS)
    l40s = estimate_time(QWEN8, EstimateConfig(), DATA, "L40S", "pod", CAT, PRIORS)
    assert qlora.training.mid > lora.training.mid * 1.2
    assert l40s.training.mid > lora.training.mid * 2


def test_a_measured_run_replaces_the_prior():
    cfg = EstimateConfig()
    fpt = flops_per_token(QWEN8, cfg, DATA.mean_length / 2)
    # a run that sustained 2,000 real tokens/s at the same padding
    run = Measurement(
        model_id=QWEN8.id,
        device="H100-SXM",
        method="lora",
        input_tokens=2_000_000,
        train_seconds=1000.0,
        padding_efficiency=0.8,
        flops_per_token=fpt,
        peak_flops=989e12,
        fixed_seconds=100.0,
    )
    t = estimate_time(QWEN8, cfg, DATA, "H100-SXM", "pod", CAT, PRIORS, [run])
    assert t.throughput.tokens_per_s.mid == pytest.approx(2_000, rel=0.01)
    assert t.throughput.basis.startswith("measured")
    assert t.fixed["process (measured)"].mid == pytest.approx(100.0)
    # another model on the same GPU transfers its MFU, with a wider range
    other = estimate_time(NEXT, EstimateConfig(method="lora"), DATA, "H100-SXM", "pod", CAT, PRIORS, [run])
    assert "other models" in other.throughput.basis


def test_cpu_needs_no_catalogue_entry():
    tiny = reference_models()["meta-llama/Llama-2-7b-hf"]
    t = estimate_time(tiny, EstimateConfig(), DATA, "cpu", "local", CAT, PRIORS)
    assert "CPU prior" in t.throughput.basis
    assert "upload" not in t.fixed and "cold start" not in t.fixed


def test_measured_trainer_overhead_replaces_the_eval_estimate():
    cfg = EstimateConfig()
    data = DatasetTokens(tokens=1_000_000, trained_tokens=1, examples=1000, validation_tokens=100_000)
    fpt = flops_per_token(QWEN8, cfg, data.mean_length / 2)
    run = Measurement(
        model_id=QWEN8.id,
        device="cpu",
        method="lora",
        input_tokens=10_000,
        train_seconds=10.0,
        flops_per_token=fpt,
        stage_overhead_seconds=7.0,
    )
    with_run = estimate_time(QWEN8, cfg, data, "cpu", "local", CAT, PRIORS, [run])
    assert with_run.fixed["trainer overhead (measured)"].mid == pytest.approx(7.0)
    assert with_run.evals.mid == 0.0
    assert estimate_time(QWEN8, cfg, data, "cpu", "local", CAT, PRIORS).evals.mid > 0


def test_max_steps_prices_the_steps_the_engine_trains_not_the_epochs():
    cfg = EstimateConfig(epochs=3, batch_size=4, gradient_accumulation_steps=5)
    # 10,000 examples / (4 x 5) = 500 optimizer steps per epoch: 50 steps are a tenth of an epoch
    short = cfg.model_copy(update={"max_steps": 50})
    assert short.epochs_for(DATA.examples) == pytest.approx(0.1)
    full = estimate_time(QWEN8, cfg, DATA, "H100-SXM", "pod", CAT, PRIORS)
    bounded = estimate_time(QWEN8, short, DATA, "H100-SXM", "pod", CAT, PRIORS)
    assert bounded.training.mid == pytest.approx(full.training.mid / 30)
    # steps past one pass cycle the data, as the Trainer does: 1,500 steps = 3 epochs on 1 GPU, and 6 on
    # 2 (each step is one global batch over both)
    assert cfg.model_copy(update={"max_steps": 1500}).epochs_for(DATA.examples) == pytest.approx(3)
    two_gpus = cfg.model_copy(update={"max_steps": 1500, "gpus": 2})
    assert two_gpus.epochs_for(DATA.examples) == pytest.approx(6)
