"""A small synthetic chat dataset and a job spec over the tiny Qwen3 model."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from lorapipe.contract.conversation import Example, Message


def write_arithmetic_dataset(path: Path, n: int = 80, seed: int = 0) -> Path:
    """``n`` short chats (system / "What is a plus b?" / "a plus b is c."), two per conversation."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            a, b = rng.randint(1, 50), rng.randint(1, 50)
            filler = " ".join(rng.choice(["please", "now", "tell me"]) for _ in range(rng.randint(0, 10)))
            ex = Example(
                id=f"ex{i}",
                conversation_id=f"c{i // 2}",
                messages=(
                    Message("system", "You add numbers."),
                    Message("user", f"{filler} What is {a} plus {b}?"),
                    Message("assistant", f"{a} plus {b} is {a + b}.", trained=True),
                ),
            )
            fh.write(json.dumps(ex.to_dict()) + "\n")
    return path


def tiny_spec(dataset: Path, **config: Any) -> dict[str, Any]:
    base = {
        "preset": "custom",
        "rank": 8,
        "alpha": 16,
        "dropout": 0.0,
        "target_modules": "all-linear",
        "learning_rate": 0.005,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "max_steps": 20,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 256,
        "eval_steps": 10,
        "save_steps": 10,
        "gradient_checkpointing": False,
        "sample_prompts": 2,
        "sample_max_new_tokens": 8,
    }
    return {
        "job_id": "tiny-job",
        "model": "lorapipe/tiny-qwen3",
        "dataset": {"uri": str(dataset)},
        "config": base | config,
    }
