"""The engine's GPU path: bf16, SDPA/flash attention, gradient checkpointing, QLoRA (NF4 + double
quantisation via bitsandbytes). Skipped without CUDA; run all of it with ``tests/gpu/run.sh``."""

from __future__ import annotations

import importlib.util
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from lorapipe.contract.conversation import Example, Message
from lorapipe.settings import Settings

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
EQ12 = Path(__file__).resolve().parents[2] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def _arith(path: Path, n: int = 96) -> Path:
    rng = random.Random(0)
    with path.open("w") as fh:
        for i in range(n):
            a, b = rng.randint(1, 99), rng.randint(1, 99)
            msgs = (
                Message("user", f"What is {a} plus {b}?"),
                Message("assistant", f"{a} plus {b} is {a + b}.", trained=True),
            )
            fh.write(
                json.dumps(Example(id=f"e{i}", conversation_id=f"c{i // 2}", messages=msgs).to_dict()) + "\n"
            )
    return path


def _run(model: str, dataset: Path, out: Path, settings: Settings, **config: Any) -> Any:
    from lorapipe.contract.spec import TrainingJobSpec
    from lorapipe.training.events import EventWriter
    from lorapipe.training.run import run

    spec = TrainingJobSpec.parse(
        {
            "job_id": "gpu",
            "model": model,
            "dataset": {"uri": str(dataset)},
            "config": {
                "preset": "custom",
                "lr_scheduler": "constant",
                "warmup_ratio": 0.0,
                "sample_prompts": 1,
                "sample_max_new_tokens": 16,
                **config,
            },
        }
    )
    return run(spec, out, EventWriter(io.StringIO(), out / "metrics.jsonl"), settings=settings)


def test_hardware_choice_on_cuda() -> None:
    from lorapipe.contract.config import TrainingConfig
    from lorapipe.training.adapter import pick_hardware

    hw = pick_hardware(TrainingConfig())
    assert hw.device == "cuda"
    assert hw.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    expected = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
    assert hw.attention == expected


def test_tiny_lora_bf16_with_checkpointing(model_settings: Settings, tmp_path: Path) -> None:
    result = _run(
        "lorapipe/tiny-qwen3",
        _arith(tmp_path / "d.jsonl"),
        tmp_path / "out",
        model_settings,
        rank=8,
        alpha=16,
        learning_rate=5e-3,
        max_steps=30,
        batch_size=8,
        max_length=128,
        eval_steps=15,
        gradient_checkpointing=True,
    )
    s = result.summary
    assert s["train_loss_last"] < s["train_loss_first"] and s["eval_loss_after"] < s["eval_loss_before"]
    manifest = result.manifest
    assert manifest["hardware"]["device"] == "cuda" and manifest["hardware"]["precision"] in ("bf16", "fp16")
    assert 0 < s["peak_memory_bytes"] < torch.cuda.get_device_properties(0).total_memory
    assert s["peak_memory_measure"] == "cuda_max_allocated"
    liger = importlib.util.find_spec("liger_kernel") is not None
    assert s["loss_computation"] == ("liger" if liger else "chunked")


@pytest.mark.skipif(importlib.util.find_spec("liger_kernel") is None, reason="needs liger-kernel")
def test_liger_fused_loss_equals_the_chunked_loss_in_bf16(model_settings: Settings) -> None:
    """On a GPU the engine hands the loss to Liger's fused linear cross-entropy where installed; it
    must agree with the chunked loss the engine uses elsewhere (bf16: within 1e-2)."""
    from peft import LoraConfig, get_peft_model
    from transformers.integrations.liger import apply_liger_kernel

    from lorapipe.models.sources import load_model
    from lorapipe.training.loss import causal_lm_loss

    model = load_model("lorapipe/tiny-qwen3", model_settings, dtype=torch.bfloat16).cuda()
    model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()  # Liger's fused loss replaces the logits in training
    ids = torch.randint(0, model.config.vocab_size, (2, 64), device="cuda")
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    chunked = causal_lm_loss(model, batch).item()
    apply_liger_kernel(model, None)  # as the Trainer does with use_liger_kernel
    assert model(**batch).loss.item() == pytest.approx(chunked, rel=1e-2)


@pytest.mark.parametrize("method", ["lora", "qlora", "dora"])
def test_smollm2_on_eq12(method: str, model_settings: Settings, tmp_path: Path) -> None:
    if method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is not installed")
    result = _run(
        "smollm2-135m-instruct",
        EQ12,
        tmp_path / "out",
        model_settings,
        method=method,
        rank=16,
        alpha=32,
        target_modules="all-linear",
        learning_rate=3e-4,
        max_steps=12,
        batch_size=4,
        gradient_accumulation_steps=2,
        max_length=2048,
        gradient_checkpointing=True,
        optimizer="paged_adamw_8bit" if method == "qlora" else "adamw_torch",
    )
    s = result.summary
    assert s["eval_loss_after"] < s["eval_loss_before"], s
    assert s["tokens_per_s"] > 500  # any working GPU path trains 135M far faster than a CPU
    samples = json.loads((tmp_path / "out" / "samples.json").read_text())["samples"]
    assert samples and samples[0]["base"] and samples[0]["adapter"]
    if method == "qlora":
        base = result.model.get_base_model()
        assert any(type(m).__name__ == "Linear4bit" for m in base.modules())
        config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
        assert config["r"] == 16
