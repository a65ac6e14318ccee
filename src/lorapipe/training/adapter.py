"""The base model as the engine trains it: precision, attention kernel, 4-bit quantisation, LoRA wrapping.

GPU path: bf16 where the GPU supports it (else fp16), flash-attention 2 when installed (else SDPA),
QLoRA as a 4-bit NF4 base with double quantisation and bf16 compute (bitsandbytes), gradient
checkpointing. CPU path: fp32, SDPA.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import torch

from lorapipe.contract.config import TrainingConfig
from lorapipe.errors import ConfigError
from lorapipe.settings import Settings

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Hardware:
    """What this process trains on, decided once from the config and the machine."""

    device: str  # "cuda" or "cpu"
    precision: str  # "bf16", "fp16" or "fp32"
    attention: str  # attn_implementation passed to transformers

    @property
    def dtype(self) -> torch.dtype:
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.precision]


def pick_hardware(config: TrainingConfig) -> Hardware:
    cuda = torch.cuda.is_available()
    if config.method == "qlora" and not cuda:
        raise ConfigError(
            "method='qlora' needs a CUDA GPU (bitsandbytes 4-bit kernels)",
            param="config.method",
            hint="use method 'lora' on CPU",
        )
    if config.precision != "auto":
        if config.precision in ("bf16", "fp16") and not cuda:
            raise ConfigError(
                f"precision={config.precision!r} needs a GPU",
                param="config.precision",
                hint="use 'auto' or 'fp32'",
            )
        precision = config.precision
    elif cuda:
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    else:
        precision = "fp32"
    attention = config.attention
    if attention == "auto":
        flash = cuda and precision != "fp32" and importlib.util.find_spec("flash_attn") is not None
        attention = "flash_attention_2" if flash else "sdpa"
    return Hardware(device="cuda" if cuda else "cpu", precision=precision, attention=attention)


def load_base_model(ref: str, settings: Settings, config: TrainingConfig, hw: Hardware) -> Any:
    """The frozen base model, quantised to 4-bit NF4 (double quantisation) for qlora, ready for adapters."""
    from lorapipe.models.sources import load_model

    qlora = config.method == "qlora"
    model = load_model(
        ref,
        settings,
        dtype=hw.dtype,
        quantization="nf4" if qlora else None,
        device_map={"": torch.cuda.current_device()} if qlora else None,
        attn_implementation=hw.attention,
    )
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing
        )
    model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    return model


def target_modules(model: Any, config: TrainingConfig) -> str | list[str]:
    """PEFT ``target_modules`` for the config; explicit names must exist in the model."""
    names = {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)
    }
    if config.target_modules == "all-linear":
        return "all-linear"
    wanted = list(ATTENTION_MODULES) if config.target_modules == "attention" else list(config.target_modules)
    # bitsandbytes layers are not nn.Linear subclasses; accept any module of that name then.
    names |= {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if type(mod).__name__ == "Linear4bit"
    }
    found = [m for m in wanted if m in names]
    missing = [m for m in wanted if m not in names]
    if config.target_modules != "attention" and missing:
        raise ConfigError(
            f"target_modules {missing} are not linear layers of this model",
            param="config.target_modules",
            hint=f"choose from {sorted(names)[:20]}",
        )
    if not found:
        raise ConfigError(
            "this model has no q/k/v/o projection layers for target_modules='attention'",
            param="config.target_modules",
            hint="use 'all-linear' or list the module names",
        )
    return found


def add_adapter(model: Any, config: TrainingConfig) -> Any:
    """Wrap ``model`` in a fresh LoRA/DoRA/rsLoRA adapter; only adapter weights are trainable."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=target_modules(model, config),
        bias="none",
        task_type="CAUSAL_LM",
        use_dora=config.method == "dora",
        use_rslora=config.method == "rslora",
    )
    return get_peft_model(model, lora)


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
