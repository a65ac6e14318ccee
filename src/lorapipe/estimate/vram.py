"""Peak GPU memory of a LoRA/QLoRA run, in parts, and which GPUs it fits with headroom.

Model: the usual sum of parts (activations after Korthikanti et al. 2022, arXiv:2205.05198, counted here
per saved tensor), checked against the published peaks in ``data/vram_references.json`` (torchtune,
axolotl, LLaMA-Factory, Unsloth) by ``tests/unit/estimate`` and ``bench/estimate.py``:

  peak = weights + adapter states + saved activations + max(logits at the loss, one recomputed layer)
         + CUDA context + allocator slack

With gradient checkpointing only each layer's input is kept; the loss's logits are freed before
backward recomputes a layer, so the two never coexist. Without it every layer's activations are alive
when the logits are, so they add up. All sizes are bytes; reports are in GiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from lorapipe.estimate.catalogue import GpuCatalogue, GpuSpec
from lorapipe.estimate.config import LOGIT_BYTES, QUANT_BYTES, EstimateConfig
from lorapipe.estimate.model_facts import ModelFacts, lora_params, targeted_shapes

GIB = 1024**3
CUDA_CONTEXT_BYTES = 0.5 * GIB  # CUDA context + cuBLAS workspace, not counted by max_memory_allocated
ALLOCATOR_SLACK = 0.05  # caching-allocator fragmentation on top of the allocated peak
# Adapter bytes per trainable parameter: PEFT keeps adapters in fp32 (weight 4 + grad 4) plus AdamW's
# two fp32 moments (8), or two 8-bit moments (2).
ADAPTER_BYTES = {"adamw": 16.0, "adamw_8bit": 10.0}


@dataclass(frozen=True)
class VramEstimate:
    """Peak memory per GPU in bytes, by part; ``fits`` lists catalogue GPUs with enough headroom."""

    weights: float
    adapter: float
    activations: float  # saved for backward across layers
    transient: float  # max(logits at the loss, one recomputed layer)
    overhead: float
    lora_params: int
    fits: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return self.weights + self.adapter + self.activations + self.transient + self.overhead

    @property
    def total_gib(self) -> float:
        return self.total / GIB

    def parts_gib(self) -> dict[str, float]:
        """Each part in GiB, rounded to 0.1 (the estimate is not more precise than that)."""
        parts = {
            "weights": self.weights,
            "adapter+grads+optimizer": self.adapter,
            "activations": self.activations,
            "logits/recompute peak": self.transient,
            "overhead": self.overhead,
            "total": self.total,
        }
        return {k: round(v / GIB, 1) for k, v in parts.items()}

    def fits_on(self, gpu: GpuSpec, headroom: float) -> bool:
        """Whether the peak leaves ``headroom`` (a share of device memory) free."""
        return self.total <= gpu.memory_gib * GIB * (1.0 - headroom)


def weight_bytes(m: ModelFacts, cfg: EstimateConfig) -> float:
    """Base weights resident on one GPU. MoE: every expert is resident, not only the active ones.
    QLoRA quantises the blocks' linear layers; embeddings and the output head stay 16-bit."""
    if cfg.method == "qlora":
        total = m.linear_params * QUANT_BYTES[cfg.quantisation] + m.embedding_params * 2.0
    else:
        total = m.params * cfg.base_bytes_per_param
    return total / cfg.gpus if cfg.sharding == "fsdp" else total


def layer_activation_bytes_per_token(m: ModelFacts, cfg: EstimateConfig, seq: int) -> float:
    """Bytes one decoder layer saves for backward per token (bf16 tensors, fp32 norm upcasts).

    attention: norm output, rotated q and k, v, attention output (SDPA/flash keep O(s)); eager
    attention also keeps the score and probability matrices (heads × seq per token).
    MLP (SwiGLU): norm output, gate and up outputs, activation output, their product.
    MoE: router logits (fp32) and, per selected expert, a dispatched copy of the token and its MLP.
    """
    h, q, kv = m.hidden, m.heads * m.head_dim, m.kv_heads * m.head_dim
    norm_fp32 = 0.0 if cfg.fused_kernels else 4.0 * h  # HF RMSNorm saves an fp32 copy of its input
    act_out = 0.0 if cfg.fused_kernels else 2.0  # bytes per MLP element for the SiLU output
    attn = 2 * h + 2 * q + 4 * kv + 2 * q + norm_fp32
    if m.qk_norm and not cfg.fused_kernels:
        attn += 4.0 * (q + kv)
    if cfg.attention == "eager":
        attn += m.heads * seq * 5.0 * m.softmax_attention_layers / m.layers  # scores, probs, mask
    if m.is_moe:
        per_expert = 2 * h + (6.0 + act_out) * m.moe_intermediate
        mlp = 2 * h + 4.0 * m.experts + m.experts_per_token * per_expert
        mlp += (6.0 + act_out) * m.shared_expert_intermediate
    else:
        mlp = 2 * h + (6.0 + act_out) * m.intermediate
    mlp += norm_fp32
    if cfg.lora_dropout > 0:
        # PEFT drops out each adapted module's input separately: a bf16 copy (2 B) and a mask (1 B) per
        # input element, saved for the adapter's backward.
        for s in targeted_shapes(m, cfg.targets, cfg.target_experts):
            per_token = m.experts_per_token if s.expert else s.count / m.layers
            mlp += 3.0 * s.d_in * per_token
    return attn + mlp


def estimate_vram(m: ModelFacts, cfg: EstimateConfig, catalogue: GpuCatalogue | None = None) -> VramEstimate:
    """Peak memory per GPU for ``m`` trained with ``cfg``; ``fits`` filled when a catalogue is given."""
    tokens = cfg.tokens_per_micro_batch
    n_lora = lora_params(m, cfg.rank, cfg.targets, cfg.target_experts)
    adapter = n_lora * ADAPTER_BYTES[cfg.optimizer]
    if cfg.method == "dora":
        adapter += sum(s.d_out * s.count for s in targeted_shapes(m, cfg.targets)) * 16.0  # magnitudes
    if cfg.sharding == "fsdp":
        adapter /= cfg.gpus
    layer = layer_activation_bytes_per_token(m, cfg, cfg.max_length) * tokens
    logits = tokens * m.vocab * LOGIT_BYTES[cfg.logits]
    if cfg.gradient_checkpointing:
        saved = m.layers * tokens * m.hidden * 2.0  # each layer's bf16 input
        transient = max(logits, layer)
    else:
        saved = m.layers * layer
        transient = logits
    allocated = weight_bytes(m, cfg) + adapter + saved + transient
    est = VramEstimate(
        weights=weight_bytes(m, cfg),
        adapter=adapter,
        activations=saved,
        transient=transient,
        overhead=allocated * ALLOCATOR_SLACK + CUDA_CONTEXT_BYTES,
        lora_params=n_lora,
    )
    if catalogue is None:
        return est
    fits = tuple(g.id for g in catalogue.gpus if est.fits_on(g, cfg.headroom))
    return VramEstimate(**{**est.__dict__, "fits": fits})
