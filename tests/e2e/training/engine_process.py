"""Running ``python -m lorapipe.training`` as a child process in tests, as every backend does."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lorapipe.backends.local import read_events, read_exit_file
from lorapipe.backends.warm_engine import WarmEngine
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
    warm: WarmEngine | None = None,
) -> tuple[int, list[Event]]:
    """Run the engine; ``on_event(event, pid)`` may return True to stop reading (after signalling).
    Returns the exit code and the events read. Every stdout line must be a JSON event. With ``warm``
    the run is forked by that zygote, as the local backend starts it (see :func:`run_warm`)."""
    args = ["run", str(spec), "--out", str(out)] + (["--resume"] if resume else [])
    if warm is not None:
        return run_warm(warm, args, out, on_event)
    argv = [sys.executable, "-m", "lorapipe.training", *args]
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


def run_warm(
    warm: WarmEngine, args: list[str], out: Path, on_event: Callable[[Event, int], bool] | None
) -> tuple[int, list[Event]]:
    """``run_engine`` through the warm engine: events from the file the child writes, the exit code from
    the file the zygote writes once it has reaped the child."""
    n = len(list(out.parent.glob(f"{out.name}.*.events.jsonl")))
    events_path = out.parent / f"{out.name}.{n}.events.jsonl"
    exit_path = out.parent / f"{out.name}.{n}.exit"
    pid = int(warm.spawn(args, events_path, out.parent / f"{out.name}.{n}.stderr.log", exit_path)["pid"])
    events: list[Event] = []
    offset, reading = 0, True
    deadline = time.monotonic() + 300
    while True:
        code = read_exit_file(exit_path, pid)  # the exit status first: every line before it is then read
        new, offset = read_events(events_path, offset)
        for event in new if reading else []:
            events.append(event)
            if on_event is not None and on_event(event, pid):
                reading = False
                break
        if code is not None:
            return code, events
        assert time.monotonic() < deadline, "the warm engine's run did not end"
        time.sleep(0.05)


def train_losses(events: list[Event]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["type"] == "metrics" and e["phase"] == "train"}
