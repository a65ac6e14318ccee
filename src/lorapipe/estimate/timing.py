"""Wall-clock estimate of one job on one device and backend, as a (low, mid, high) range in seconds.

  training = epochs · tokens ÷ tokens/s   (tokens/s already divides by the padding efficiency;
             with max_steps, epochs = max_steps ÷ optimizer steps per epoch)
  evals    = (epochs + 1) · validation tokens · 2·N ÷ achieved FLOP/s     (forward only)
  fixed    = backend start (serverless cold start | pod start) + process start + model load
             (network volume or hub download) + 4-bit quantisation + adapter upload (+ pod idle)

Measured runs replace the efficiency and, for the same model on the same device, the fixed
seconds of the process itself (:mod:`lorapipe.estimate.calibration`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lorapipe.estimate.calibration import (
    Measurement,
    learned_achieved_flops,
    learned_fixed_seconds,
    learned_stage_overhead,
)
from lorapipe.estimate.catalogue import GpuCatalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.cost import SERVERLESS_IDLE_TIMEOUT_S
from lorapipe.estimate.model_facts import ModelFacts
from lorapipe.estimate.priors import ZERO, Priors, Triple
from lorapipe.estimate.throughput import Throughput, cpu_throughput, gpu_throughput

Backend = Literal["local", "serverless", "pod"]


@dataclass(frozen=True)
class DatasetTokens:
    """Token facts of the training data, counted with the model's own tokenizer (per epoch)."""

    tokens: int  # real input tokens after truncation
    trained_tokens: int  # tokens with a label
    examples: int
    padding_efficiency: float = 1.0  # real ÷ (real + padding) for the batching the engine uses
    validation_tokens: int = 0

    @property
    def mean_length(self) -> float:
        return self.tokens / self.examples if self.examples else 0.0


def tokens_from_report(report: Any, packing: bool, validation_split: float = 0.0) -> DatasetTokens:
    """Adapt a dataset report (``lorapipe.datasets`` ``DatasetReport``) to :class:`DatasetTokens`.
    Without packing the engine uses length-grouped batches, so that efficiency applies."""
    t = report.tokens
    if t is None:
        raise ValueError("the dataset report has no token counts: inspect it with the model's tokenizer")
    eff = t.padding.packed if packing else t.padding.length_grouped
    val = round(t.total * validation_split)
    return DatasetTokens(
        tokens=t.total - val,
        trained_tokens=round(t.trained * (1 - validation_split)),
        examples=max(round(report.examples * (1 - validation_split)), 1),
        padding_efficiency=max(min(float(eff), 1.0), 1e-3),
        validation_tokens=val,
    )


@dataclass(frozen=True)
class TimeEstimate:
    """Seconds by part; ``total`` is what a GPU is billed for on that backend."""

    device: str
    backend: Backend
    throughput: Throughput
    training: Triple
    evals: Triple
    fixed: dict[str, Triple] = field(default_factory=dict)

    @property
    def total(self) -> Triple:
        out = self.training + self.evals
        for v in self.fixed.values():
            out = out + v
        return out


def _achieved(
    m: ModelFacts,
    cfg: EstimateConfig,
    device: str,
    catalogue: GpuCatalogue,
    priors: Priors,
    records: Sequence[Measurement],
) -> tuple[Triple, str, float | None]:
    peak = None if device == "cpu" else catalogue.get(device).bf16_dense_tflops * 1e12
    learned = learned_achieved_flops(records, m.id, device, cfg.method, peak)
    if learned is not None:
        return learned[0], learned[1], peak
    if peak is None:
        return priors.cpu_achieved_flops, f"CPU prior ({priors.source})", None
    return priors.mfu(cfg.method, m.is_moe).scale(peak), f"MFU prior {priors.mfu(cfg.method, m.is_moe)}", peak


def estimate_time(
    m: ModelFacts,
    cfg: EstimateConfig,
    data: DatasetTokens,
    device: str,
    backend: Backend,
    catalogue: GpuCatalogue,
    priors: Priors,
    records: Sequence[Measurement] = (),
    model_cached: bool = True,
) -> TimeEstimate:
    """Time of one job; ``model_cached``: the base model already sits on the network volume."""
    achieved, basis, _ = _achieved(m, cfg, device, catalogue, priors, records)
    mean_ctx = data.mean_length / 2 if not cfg.packing else min(data.mean_length, cfg.max_length) / 2
    if device == "cpu":
        tp = cpu_throughput(m, cfg, achieved, data.padding_efficiency, max(mean_ctx, 1.0), basis)
    else:
        gpu = catalogue.get(device)
        tp = gpu_throughput(m, cfg, gpu, achieved, data.padding_efficiency, max(mean_ctx, 1.0), priors, basis)
    epochs = cfg.epochs_for(data.examples)
    tokens = data.tokens * epochs
    # A slow throughput gives the high time: invert the range.
    training = Triple(
        tokens / tp.tokens_per_s.high, tokens / tp.tokens_per_s.mid, tokens / tp.tokens_per_s.low
    )
    n_evals = math.ceil(epochs) + 1
    eval_flops = data.validation_tokens * n_evals * 2.0 * m.active_matmul_params
    evals = Triple(*(eval_flops / a if a > 0 else 0.0 for a in (achieved.high, achieved.mid, achieved.low)))

    fixed: dict[str, Triple] = {}
    overhead = learned_stage_overhead(records, m.id, device)
    if overhead is not None:
        # Measured trainer start + evals + checkpoint saves of this model on this device replace the
        # FLOP-based eval estimate (on small models evals cost per step, not per FLOP).
        fixed["trainer overhead (measured)"] = overhead
        eval_flops = 0.0
    if backend == "serverless":
        fixed["cold start"] = priors.fixed_seconds["serverless_cold_start"]
    elif backend == "pod":
        fixed["pod start"] = priors.fixed_seconds["pod_start"]
    learned = learned_fixed_seconds(records, m.id, device)
    if learned is not None:
        fixed["process (measured)"] = learned
    else:
        fixed["process start"] = priors.fixed_seconds["process_start"]
        gb = m.params * 2.0 / 1e9  # bf16 safetensors on disk
        speed = priors.transfer_gb_per_s[
            "volume_read" if model_cached or backend == "local" else "hub_download"
        ]
        fixed["model load" if model_cached else "model download"] = Triple(
            gb / speed.high, gb / speed.mid, gb / speed.low
        )
        if cfg.method == "qlora":
            q = priors.quantise_params_per_s
            fixed["4-bit quantise"] = Triple(m.params / q.high, m.params / q.mid, m.params / q.low)
    if backend != "local":
        adapter_gb = 0.2  # an adapter is tens to hundreds of MB; the upload is never the bottleneck
        up = priors.transfer_gb_per_s["upload"]
        fixed["upload"] = Triple(adapter_gb / up.high, adapter_gb / up.mid, adapter_gb / up.low)
    if backend == "serverless":
        idle = SERVERLESS_IDLE_TIMEOUT_S
        fixed["idle timeout"] = Triple(idle, idle, idle)
    if backend == "pod":
        fixed["idle before stop"] = priors.fixed_seconds["pod_idle_before_stop"]
    return TimeEstimate(device, backend, tp, training, evals if eval_flops else ZERO, fixed)
