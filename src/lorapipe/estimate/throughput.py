"""Training throughput: model FLOPs per token and tokens per second on a device.

FLOPs/token = k · N_matmul + attention term
  k = 4 for LoRA (forward 2N + activation gradients 2N; weight gradients only for the tiny
      adapters), + 2 with gradient checkpointing (the forward runs twice)
  N_matmul = active parameters minus the embedding lookup (MoE: active experts only)
  attention = (k/2) · 2 · L_attn · s̄ · d_attn  (causal QKᵀ and AV over an average context s̄)
tokens/s = min(compute, memory) where
  compute = G · eff_G · achieved FLOP/s ÷ FLOPs/token     (achieved = peak × MFU, or measured)
  memory  = bandwidth · eff ÷ (bytes of weights read per token)  — a floor for tiny batches
"""

from __future__ import annotations

from dataclasses import dataclass

from lorapipe.estimate.catalogue import GpuSpec
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.model_facts import ModelFacts
from lorapipe.estimate.priors import Priors, Triple
from lorapipe.estimate.vram import weight_bytes


def flops_per_token(m: ModelFacts, cfg: EstimateConfig, mean_context: float) -> float:
    """Model FLOPs to train on one real token (forward + backward, + recompute when checkpointing).
    ``mean_context``: average sequence length the token attends over (tokens)."""
    k = 4.0 + (2.0 if cfg.gradient_checkpointing else 0.0)
    attn_width = m.heads * m.head_dim
    # Forward attention FLOPs per token: 2·2·ctx·d (QKᵀ and AV), halved by the causal mask.
    attention_fwd = 2.0 * m.softmax_attention_layers * mean_context * attn_width
    return k * m.active_matmul_params + (k / 2.0) * attention_fwd


@dataclass(frozen=True)
class Throughput:
    """Real (non-padding) tokens per second as a range, and what bounded it."""

    tokens_per_s: Triple
    bound: str  # "compute" or "memory"
    basis: str  # where the efficiency came from (prior, or measured runs)


def gpu_throughput(
    m: ModelFacts,
    cfg: EstimateConfig,
    gpu: GpuSpec,
    achieved_flops: Triple,
    padding_efficiency: float,
    mean_context: float,
    priors: Priors,
    basis: str,
) -> Throughput:
    """Tokens/s on ``cfg.gpus`` GPUs of type ``gpu`` given achieved FLOP/s per GPU."""
    fpt = flops_per_token(m, cfg, mean_context)
    scale = cfg.gpus * (priors.multi_gpu_efficiency if cfg.gpus > 1 else 1.0)
    speed = priors.method_speed.get(cfg.method, 1.0)
    compute = achieved_flops.scale(scale * speed * padding_efficiency / fpt)
    # Memory floor: every micro-batch reads all resident weights once per pass.
    passes = 2.0 + (1.0 if cfg.gradient_checkpointing else 0.0)
    real_tokens_per_step = cfg.tokens_per_micro_batch * padding_efficiency
    bytes_per_token = weight_bytes(m, cfg) * passes / real_tokens_per_step
    mem = gpu.memory_bandwidth_gbs * 1e9 * priors.memory_bandwidth_efficiency * scale / bytes_per_token
    if mem < compute.mid:
        return Throughput(
            Triple(min(compute.low, mem * 0.7), min(compute.mid, mem), min(compute.high, mem)),
            "memory",
            basis,
        )
    return Throughput(compute, "compute", basis)


def cpu_throughput(
    m: ModelFacts,
    cfg: EstimateConfig,
    achieved_flops: Triple,
    padding_efficiency: float,
    mean_context: float,
    basis: str,
) -> Throughput:
    """Tokens/s on the local CPU (no catalogue entry: the achieved FLOP/s is measured or a prior)."""
    fpt = flops_per_token(m, cfg, mean_context)
    return Throughput(achieved_flops.scale(padding_efficiency / fpt), "compute", basis)
