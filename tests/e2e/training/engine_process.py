"""Running ``python -m lorapipe.training`` as a child process in tests, as every backend does."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lorapipe.contract.conversation import Example, Message
from lorapipe.settings import Settings

Event = dict[str, Any]


def write_dataset(path: Path, n: int = 80) -> Path:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            a, b = rng.randint(1, 50), rng.randint(1, 50)
            msgs = (
                Message("system", "You add numbers."),
                Message("user", f"{'please ' * rng.randint(0, 8)}What is {a} plus {b}?"),
                Message("assistant", f"{a} plus {b} is {a + b}.", trained=True),
            )
            fh.write(
                json.dumps(Example(id=f"e{i}", conversation_id=f"c{i // 2}", messages=msgs).to_dict()) + "\n"
            )
    return path


def write_spec(path: Path, dataset: Path, **config: Any) -> Path:
    base = {
        "preset": "custom",
        "rank": 8,
        "alpha": 16,
        "dropout": 0.1,
        "target_modules": "all-linear",
        "learning_rate": 0.005,
        "lr_scheduler": "cosine",
        "warmup_ratio": 0.1,
        "batch_size": 4,
        "gradient_accumulation_steps": 2,
        "max_length": 256,
        "gradient_checkpointing": False,
        "sample_prompts": 1,
        "sample_max_new_tokens": 4,
    }
    spec = {
        "job_id": "e2e",
        "model": "lorapipe/tiny-qwen3",
        "dataset": {"uri": str(dataset)},
        "config": base | config,
    }
    path.write_text(json.dumps(spec))
    return path


def engine_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "LORAPIPE_DATA_DIR": str(settings.data_dir)}


def run_engine(
    spec: Path,
    out: Path,
    settings: Settings,
    *,
    resume: bool = False,
    on_event: Callable[[Event, int], bool] | None = None,
) -> tuple[int, list[Event]]:
    """Run the engine; ``on_event(event, pid)`` may return True to stop reading (after signalling).
    Returns the exit code and the events read. Every stdout line must be a JSON event."""
    argv = [sys.executable, "-m", "lorapipe.training", "run", str(spec), "--out", str(out)]
    if resume:
        argv.append("--resume")
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=engine_env(settings)
    )
    events: list[Event] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        events.append(json.loads(line))
        if on_event is not None and on_event(events[-1], proc.pid):
            break
    proc.stdout.close()
    return proc.wait(timeout=300), events


def train_losses(events: list[Event]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["type"] == "metrics" and e["phase"] == "train"}
