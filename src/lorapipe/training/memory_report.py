"""The run's measured peak memory next to what the estimator predicted for this very run.

The estimator (:mod:`lorapipe.estimate.vram`) prices a run before it starts, from the catalogue's model
facts and the requested config; a user choosing a GPU trusts that figure. Written beside the measured
peak in every manifest, each finished run checks it, and a drift shows up in the artefacts rather than as
an out-of-memory error on a rented GPU.

The prediction is made here, at the end of the run, from what the run actually was: the loaded model's
own ``config.json`` facts, the base weights' real dtype, the longest row it trained (a dataset shorter
than ``max_length`` never pays for the rest), how the loss met the vocabulary (``chunked`` here is
the engine's row-chunked loss, which never holds the full logits: priced as ``fused``), and
gradient checkpointing as configured.

What is compared:

- on CUDA, ``torch.cuda.max_memory_allocated`` against the estimate's *allocated* part (weights,
  adapter states, saved activations, the transient peak; the CUDA context and allocator slack are
  reported apart, as ``predicted_reserved_bytes``, since max_memory_allocated never counts them);
- on the CPU, the growth of the peak resident set over the process's footprint before the model was
  loaded (the interpreter, torch, transformers) against the same allocated part, with activations
  priced at the run's own dtype (the estimator assumes 16-bit activations on a GPU; fp32 on a CPU
  doubles them).

``ratio`` is measured / predicted: above 1 the estimator was optimistic for this run.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.model_lookup import facts_from_hf_config
from lorapipe.estimate.vram import ALLOCATOR_SLACK, CUDA_CONTEXT_BYTES, estimate_vram

#: How the manifest's ``loss_computation`` maps onto the estimator's logits modes.
LOGITS_MODE = {"model": "full", "chunked": "fused", "liger": "fused"}


def current_rss_bytes() -> int:
    """This process's resident set now (not its peak), from ``/proc/self/statm``."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _base_weight_bytes(model: Any) -> float:
    """Bytes per frozen base weight as loaded (fp32 on a CPU, bf16/fp16 on a GPU)."""
    for _, param in model.named_parameters():
        if not param.requires_grad:
            return float(param.element_size())
    return 2.0


def _model_config(model: Any) -> dict[str, Any]:
    config = getattr(model, "config", None)
    to_dict = getattr(config, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {}


def memory_report(
    model: Any,
    config: Any,
    *,
    precision: str,
    longest_row: int,
    loss_computation: str,
    peak_bytes: int,
    peak_measure: str,
    baseline_rss_bytes: int,
) -> dict[str, Any]:
    """The manifest's ``memory`` section; ``{"error": ...}`` when the model's facts cannot be read (an
    architecture the estimator does not know must not fail a finished run)."""
    try:
        facts = facts_from_hf_config("run", _model_config(model))
    except (KeyError, TypeError, ValueError) as exc:
        return {"error": f"no estimate for this architecture ({type(exc).__name__}: {exc})"}
    est_cfg = EstimateConfig.from_training_config(
        config,
        base_bytes_per_param=_base_weight_bytes(model),
        max_length=max(1, min(int(config.max_length), int(longest_row))),
        logits=LOGITS_MODE.get(loss_computation, "full"),
    )
    est = estimate_vram(facts, est_cfg)
    # The estimator's activations are 16-bit (a GPU run); an fp32 run saves twice the bytes.
    act_scale = 2.0 if precision == "fp32" else 1.0
    allocated = est.weights + est.adapter + (est.activations + est.transient) * act_scale
    on_cpu = peak_measure == "rss"
    measured = max(0, peak_bytes - baseline_rss_bytes) if on_cpu else peak_bytes
    reserved = None if on_cpu else int(allocated * (1 + ALLOCATOR_SLACK) + CUDA_CONTEXT_BYTES)
    return {
        "measure": "rss_growth" if on_cpu else peak_measure,
        "measured_peak_bytes": int(measured),
        "predicted_peak_bytes": int(allocated),
        "ratio": round(measured / allocated, 3) if allocated > 0 else None,
        "predicted_parts_bytes": {
            "weights": int(est.weights),
            "adapter+grads+optimizer": int(est.adapter),
            "activations": int(est.activations * act_scale),
            "logits/recompute peak": int(est.transient * act_scale),
        },
        "predicted_reserved_bytes": reserved,
        "process_baseline_bytes": int(baseline_rss_bytes) if on_cpu else None,
        "estimate_inputs": {
            "max_length": est_cfg.max_length,
            "batch_size": est_cfg.batch_size,
            "base_bytes_per_param": est_cfg.base_bytes_per_param,
            "logits": est_cfg.logits,
            "gradient_checkpointing": est_cfg.gradient_checkpointing,
        },
    }
