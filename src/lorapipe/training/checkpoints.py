"""The engine's checkpoints on disk: which is the newest complete one, its step, and taking one as a
run's result (its adapter weights, and the trainer state saved with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lorapipe.errors import ObjectNotFoundError


def latest_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    complete = [p for p in found if (p / "trainer_state.json").exists()]  # a kill mid-save leaves no state
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def step_of(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None


def finished_from(trainer: Any, model: Any, checkpoint: Path) -> None:
    """Take a checkpoint saved at the last step as the trained result: its adapter weights and the
    trainer's state (step, epoch, log history) as they were when it was saved."""
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    load_adapter_weights(model, checkpoint)


def load_adapter_weights(model: Any, checkpoint: Path) -> None:
    """Put a checkpoint's adapter weights into ``model`` (the base is frozen, so only these differ)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = checkpoint / "adapter_model.safetensors"
    if not weights.exists():
        raise ObjectNotFoundError(f"the checkpoint {checkpoint.name} has no adapter weights")
    set_peft_model_state_dict(model, load_file(str(weights)))
