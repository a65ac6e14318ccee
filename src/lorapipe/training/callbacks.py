"""Trainer callbacks: progress events, NaN detection, cancellation, and the engine's Trainer subclass.

``EngineTrainer`` changes three things in ``transformers.Trainer``: the training order comes from
:class:`~lorapipe.training.data.EpochBatchOrder` (reproducible per epoch, so resume is exact), every
training step counts the tokens that carry labels, and the loss is computed without full logits
(:mod:`lorapipe.training.loss`) where the model's head allows it.
"""

from __future__ import annotations

import json
import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from lorapipe.errors import NonFiniteLossError
from lorapipe.models.encoding import IGNORE_INDEX
from lorapipe.training.distributed import any_rank
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import NAN_HINT, CancelFlag
from lorapipe.training.loss import causal_lm_loss, supports_chunked_loss

PROGRESS_FILE = "lorapipe_progress.json"


@dataclass
class Progress:
    """Counters that live across the run (and are saved into each checkpoint)."""

    trained_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    start_step: int = 0
    start_tokens: int = 0
    train_seconds: float | None = None
    """Wall time of the training loop in this process (set when it ends)."""
    train_cpu_seconds: float | None = None
    """CPU time (all threads) of the training loop in this process (set when it ends)."""
    cpu_started: float = field(default_factory=time.process_time)
    last_checkpoint: str | None = None
    last_eval_step: int | None = None
    evals: list[dict[str, float]] = field(default_factory=list)
    world_size: int = 1
    """Processes training together; saved with each checkpoint (a resume checks it)."""
    sharding: str = "single"
    """single, ddp or fsdp; saved with each checkpoint."""


def peak_memory_bytes() -> int:
    """Peak accelerator memory when on CUDA, else the process's peak resident set size."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def peak_memory_measure() -> str:
    """What :func:`peak_memory_bytes` measures: ``cuda_max_allocated`` or ``rss``."""
    return "cuda_max_allocated" if torch.cuda.is_available() and torch.cuda.is_initialized() else "rss"


class EngineTrainer(Trainer):
    """``Trainer`` with our epoch-seeded batch order, a trained-token counter, and evaluation that
    always runs on padded (unpacked) batches, so eval loss means the same with or without packing."""

    def __init__(
        self,
        *args: Any,
        order: Any,
        progress: Progress,
        events: EventWriter,
        eval_collator: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._order, self._progress, self._events, self._eval_collator = (
            order,
            progress,
            events,
            eval_collator,
        )
        self._in_loop = False
        self.chunked_loss = supports_chunked_loss(self.model) and not self.args.use_liger_kernel

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        return self._order

    def training_step(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        self._progress.trained_tokens += int((inputs["labels"] != IGNORE_INDEX).sum())
        return super().training_step(model, inputs, num_items_in_batch)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """The model's own loss, from hidden states in chunks when this process holds the whole,
        unwrapped model (a DDP/FSDP wrapper must run its own forward for its hooks); else Trainer's."""
        if not (
            self.chunked_loss
            and model is self.model
            and "labels" in inputs
            and self.label_smoother is None
            and self.compute_loss_func is None
            and self.accelerator.num_processes == 1
        ):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # As Trainer does: the model divides by num_items_in_batch only when its forward accepts it.
        loss = causal_lm_loss(model, inputs, num_items_in_batch if self.model_accepts_loss_kwargs else None)
        return (loss, {"loss": loss}) if return_outputs else loss

    def train(self, *args: Any, **kwargs: Any) -> Any:
        self._in_loop = True
        try:
            return super().train(*args, **kwargs)
        finally:
            self._in_loop = False

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        self._events.stage("evaluating", message=f"step {self.state.global_step}")
        collator, self.data_collator = self.data_collator, self._eval_collator
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self.data_collator = collator
            if self._in_loop:
                self._events.stage("training")


class EventsCallback(TrainerCallback):
    """Turns the Trainer's logs, evals and saves into engine events; stops on cancel or NaN."""

    def __init__(self, events: EventWriter, progress: Progress, cancel: CancelFlag, out_dir: Path) -> None:
        self.events, self.progress, self.cancel, self.out_dir = events, progress, cancel, out_dir
        self.total_steps: int | None = None
        """Planned steps, shown before the Trainer knows them (the step-0 evaluation)."""

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.progress.started = time.monotonic()
        self.progress.cpu_started = time.process_time()
        self.progress.start_step = state.global_step
        self.progress.start_tokens = self.progress.trained_tokens

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.progress.train_seconds = time.monotonic() - self.progress.started
        self.progress.train_cpu_seconds = time.process_time() - self.progress.cpu_started

    def _timing(self, state: TrainerState) -> dict[str, Any]:
        elapsed = time.monotonic() - self.progress.started
        done = state.global_step - self.progress.start_step
        eta = elapsed / done * max(state.max_steps - state.global_step, 0) if done > 0 else None
        tokens = self.progress.trained_tokens - self.progress.start_tokens
        return {
            "step": state.global_step,
            "total_steps": state.max_steps or self.total_steps,
            "epoch": round(state.epoch or 0.0, 4),
            "trained_tokens": self.progress.trained_tokens,
            "tokens_per_s": round(tokens / elapsed, 2) if elapsed > 0 else None,
            "elapsed_s": round(elapsed, 3),
            "eta_s": round(eta, 1) if eta is not None else None,
            "peak_memory_bytes": peak_memory_bytes(),
        }

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ) -> None:
        logs = logs or {}
        if "loss" in logs:
            loss, grad_norm = float(logs["loss"]), logs.get("grad_norm")
            if not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(float(grad_norm))):
                raise NonFiniteLossError(
                    f"loss became {loss} (grad norm {grad_norm}) at step {state.global_step}",
                    param="config.learning_rate",
                    hint=NAN_HINT,
                )
            self.events.emit(
                "metrics",
                phase="train",
                loss=loss,
                lr=logs.get("learning_rate"),
                grad_norm=float(grad_norm) if grad_norm is not None else None,
                **self._timing(state),
            )
        if "eval_loss" in logs:
            self.record_eval(state, float(logs["eval_loss"]))

    def record_eval(self, state: TrainerState, eval_loss: float) -> None:
        perplexity = math.exp(eval_loss) if eval_loss < 700 else math.inf
        self.progress.last_eval_step = state.global_step
        self.progress.evals.append(
            {"step": state.global_step, "eval_loss": eval_loss, "perplexity": perplexity}
        )
        self.events.emit(
            "metrics", phase="eval", eval_loss=eval_loss, eval_perplexity=perplexity, **self._timing(state)
        )

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        # Every rank of a multi-process run asks, so all of them stop after the same step and save once.
        if any_rank(self.cancel.requested, args.device):
            self.cancel.requested = True  # the run ends as cancelled on every rank, signalled or not
            control.should_save = True
            control.should_training_stop = True

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        ckpt = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
        saved = {
            "trained_tokens": self.progress.trained_tokens,
            "evals": self.progress.evals,
            "world_size": self.progress.world_size,
            "sharding": self.progress.sharding,
        }
        if state.is_world_process_zero:  # the one writer of the checkpoint folder
            (ckpt / PROGRESS_FILE).write_text(json.dumps(saved), encoding="utf-8")
        self.progress.last_checkpoint = str(ckpt)
        self.events.emit(
            "checkpoint",
            step=state.global_step,
            path=str(ckpt.relative_to(self.out_dir)),
            best=state.best_model_checkpoint == str(ckpt),
        )


class EarlyStopping(TrainerCallback):
    """Stops training after ``patience`` evaluations without an eval-loss drop of ``threshold``.

    Derived from the recorded evals (restored with each checkpoint), so a resumed run stops where the
    uninterrupted one would.
    """

    def __init__(self, events: EventWriter, progress: Progress, patience: int, threshold: float) -> None:
        self.events, self.progress, self.patience, self.threshold = events, progress, patience, threshold

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        losses = [e["eval_loss"] for e in self.progress.evals]
        best_at = 0
        for i, loss in enumerate(losses):
            if loss < losses[best_at] - self.threshold:
                best_at = i
        stale = len(losses) - 1 - best_at
        if stale >= self.patience:
            control.should_training_stop = True
            self.events.warning(
                "early_stopped",
                f"eval loss has not improved by {self.threshold} for {stale} evaluations; stopping at step "
                f"{state.global_step} (best {losses[best_at]:.4f})",
            )


def restore_progress(checkpoint: Path, progress: Progress) -> None:
    """Load the counters saved next to a checkpoint (absent in checkpoints of other tools: keep zeros)."""
    path = checkpoint / PROGRESS_FILE
    if path.exists():
        saved = json.loads(path.read_text("utf-8"))
        progress.trained_tokens = int(saved.get("trained_tokens", 0))
        progress.evals = list(saved.get("evals", []))
