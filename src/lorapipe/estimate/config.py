"""EstimateConfig: the parts of a training run that decide its memory, time and cost.

It is deliberately smaller than the engine's ``TrainingConfig`` (learning rate does not change
memory); :meth:`EstimateConfig.from_training_config` maps one onto the other.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["lora", "qlora", "dora", "rslora"]
Quantisation = Literal["nf4", "int8"]
LogitsMode = Literal["full", "chunked", "fused"]
AttentionKind = Literal["sdpa", "eager"]
OptimizerKind = Literal["adamw", "adamw_8bit"]
Sharding = Literal["ddp", "fsdp"]

# Bytes per base weight: NF4 with double quantisation is 4 bits plus an 8-bit absmax per 64 weights
# and an fp32 constant per 256 blocks (QLoRA paper §2); int8 keeps a per-row scale (negligible).
QUANT_BYTES: dict[str, float] = {"nf4": 0.5 + 1 / 64 + 4 / (64 * 256), "int8": 1.0}
# Logit bytes per (token, vocab entry) at the loss. full: HF default — bf16 logits kept in the output,
# an fp32 upcast, fp32 log-softmax saved for backward (2 + 4 + 4); chunked: TRL/torchtune chunked
# loss keeps about one bf16 copy; fused: Cut Cross-Entropy / Liger never materialise them.
LOGIT_BYTES: dict[str, float] = {"full": 10.0, "chunked": 2.0, "fused": 0.0}


class EstimateConfig(BaseModel):
    """One run's shape. Defaults match the engine's ``balanced`` preset on a GPU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field(default="lora", description="lora, qlora (4-bit base), dora or rslora.")
    rank: int = Field(default=16, ge=1, le=4096, description="LoRA rank r.")
    targets: Literal["attention", "all-linear"] | tuple[str, ...] = Field(
        default="all-linear", description="'attention', 'all-linear' or module names."
    )
    target_experts: bool = Field(default=False, description="Also adapt routed MoE experts (× experts).")
    quantisation: Quantisation = Field(default="nf4", description="Base-weight format for qlora.")
    base_bytes_per_param: float = Field(
        default=2.0,
        gt=0,
        le=4,
        description="Bytes per unquantised base weight: 2 (bf16/fp16), 4 (fp32, CPU).",
    )
    max_length: int = Field(default=2048, ge=1, description="Tokens per sequence (packed row length).")
    batch_size: int = Field(default=4, ge=1, description="Sequences per micro-batch per GPU.")
    epochs: float = Field(default=3, gt=0, description="Passes over the training set.")
    max_steps: int | None = Field(
        default=None, ge=1, description="Optimizer steps; when set, the run trains this many, not epochs."
    )
    gradient_accumulation_steps: int = Field(
        default=1, ge=1, description="Micro-batches per optimizer step (counts steps with max_steps)."
    )
    gradient_checkpointing: bool = Field(default=True, description="Recompute activations in backward.")
    optimizer: OptimizerKind = Field(default="adamw", description="adamw (fp32 states) or adamw_8bit.")
    logits: LogitsMode = Field(default="full", description="How the loss treats the vocabulary logits.")
    attention: AttentionKind = Field(default="sdpa", description="sdpa/flash (O(s) memory) or eager (O(s²)).")
    fused_kernels: bool = Field(
        default=False, description="torch.compile or Liger kernels: no fp32 norm copies saved."
    )
    packing: bool = Field(default=False, description="Padding-free packed batches.")
    lora_dropout: float = Field(
        default=0.05, ge=0, le=1, description="Dropout > 0 saves a copy of LoRA inputs."
    )
    gpus: int = Field(default=1, ge=1, le=64, description="GPUs per job.")
    sharding: Sharding = Field(default="ddp", description="ddp: full copy per GPU; fsdp: weights split.")
    headroom: float = Field(default=0.10, ge=0, lt=1, description="Share of GPU memory kept free to fit.")

    @property
    def tokens_per_micro_batch(self) -> int:
        return self.max_length * self.batch_size

    def epochs_for(self, examples: int) -> float:
        """Passes over ``examples`` the run makes: ``epochs``, or with ``max_steps`` that many optimizer
        steps counted as the engine counts them (one global batch per step over all GPUs; the Trainer
        cycles the data when the steps outlast one pass)."""
        if self.max_steps is None:
            return self.epochs
        per_step = self.batch_size * self.gpus
        steps_per_epoch = max(1, math.ceil(math.ceil(examples / per_step) / self.gradient_accumulation_steps))
        return self.max_steps / steps_per_epoch

    @classmethod
    def from_training_config(cls, tc: Any, **overrides: Any) -> EstimateConfig:
        """Map an engine ``TrainingConfig`` (read by attribute) onto the estimator's inputs."""
        targets = tc.target_modules
        optimizer = "adamw_8bit" if "8bit" in str(getattr(tc, "optimizer", "")) else "adamw"
        attention = "eager" if getattr(tc, "attention", "auto") == "eager" else "sdpa"
        values: dict[str, Any] = {
            "method": tc.method,
            "rank": tc.rank,
            "targets": targets if isinstance(targets, str) else tuple(targets),
            "max_length": tc.max_length,
            "batch_size": tc.batch_size,
            "epochs": tc.epochs,
            "max_steps": getattr(tc, "max_steps", None),
            "gradient_accumulation_steps": getattr(tc, "gradient_accumulation_steps", 1),
            "gradient_checkpointing": tc.gradient_checkpointing,
            "optimizer": optimizer,
            "attention": attention,
            "packing": tc.packing,
            "lora_dropout": getattr(tc, "dropout", 0.0),
        }
        values.update(overrides)
        return cls(**values)
