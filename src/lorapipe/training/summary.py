"""What a finished run reports about itself: the training summary (steps, losses, throughput, memory)
and the facts about the data it was trained on, both written into the manifest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lorapipe.training import artifacts
from lorapipe.training.callbacks import Progress, peak_memory_bytes, peak_memory_measure
from lorapipe.training.data import EncodedSet


def run_summary(
    trainer: Any,
    progress: Progress,
    train: EncodedSet,
    val: EncodedSet,
    efficiency: float,
    trainable: int,
    total: int,
) -> dict[str, Any]:
    history = trainer.state.log_history
    train_losses = [h["loss"] for h in history if "loss" in h]
    evals = progress.evals
    elapsed = max(progress.train_seconds or (time.monotonic() - progress.started), 1e-9)
    return {
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 4),
        "train_loss_first": train_losses[0] if train_losses else None,
        "train_loss_last": train_losses[-1] if train_losses else None,
        "eval_loss_before": evals[0]["eval_loss"] if evals else None,
        "eval_loss_after": evals[-1]["eval_loss"] if evals else None,
        "perplexity_before": evals[0]["perplexity"] if evals else None,
        "perplexity_after": evals[-1]["perplexity"] if evals else None,
        "best_eval_loss": min((e["eval_loss"] for e in evals), default=None),
        "evals": evals,
        "trained_tokens": progress.trained_tokens,
        "tokens_per_s": round((progress.trained_tokens - progress.start_tokens) / elapsed, 2),
        "train_seconds": round(elapsed, 3),
        "train_cpu_seconds": round(progress.train_cpu_seconds or 0.0, 3),
        "padding_efficiency": round(efficiency, 4),
        "peak_memory_bytes": peak_memory_bytes(),
        # What the peak is (a GPU's allocated peak compares with the VRAM estimate; a CPU's RSS does not)
        # and how the loss met the vocabulary (chunked: never the full logits; see training/loss.py).
        "peak_memory_measure": peak_memory_measure(),
        "loss_computation": (
            "liger" if trainer.args.use_liger_kernel else "chunked" if trainer.chunked_loss else "model"
        ),
        "trainable_parameters": trainable,
        "total_parameters": total,
    }


def dataset_facts(
    train_file: Path, val_file: Path | None, train: EncodedSet, val: EncodedSet, efficiency: float
) -> dict[str, Any]:
    return {
        "train_sha256": artifacts.sha256_file(train_file),
        "validation_sha256": artifacts.sha256_file(val_file) if val_file else None,
        "train": train.stats(),
        "validation": val.stats(),
        "train_example_ids": train.ids,
        "padding_efficiency": round(efficiency, 4),
    }
