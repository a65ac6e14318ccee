"""Engine throughput and padding efficiency against a plain transformers Trainer + PEFT script.

Both sides train the same base model with the same LoRA config on the same encoded EQ-12 examples
(our assistant-only labels), same batch size, precision, learning rate and one epoch; they are
timed alternating, best of ``--repeats``, each run in a fresh process (spawned from this one) so
that its peak resident set (``ru_maxrss``: model, tokenizer, data, training) is its own. Throughput =
trained (label) tokens per second of the training loop (Trainer's train-begin to train-end, on both
sides), per wall second and per CPU second of that process; the RESULT ratio uses CPU seconds, which
other processes on a shared machine disturb far less than wall time. The plain side is what a user
would write: the Trainer's random sampler and a padding collator. ``--max-steps`` bounds both sides to
that many optimizer steps (a real model on CPU: one epoch of EQ-12 takes long).

Padding efficiency = real tokens / (rows x longest row) over one epoch's batches of EQ-12:
ours (length-grouped) vs naive (random batches, mean over 5 epochs).

    .venv/bin/python bench/engine.py [--model lorapipe/tiny-qwen3] [--max-length 1024] [--repeats 2]
                                     [--batch-size 4] [--max-steps N] [--data-dir DIR]

Last line: ``RESULT engine speed_ratio=<ours/plain> padding_eff=<ours> padding_eff_naive=<naive>
peak_rss_mb=<ours> peak_rss_mb_plain=<plain> measured_growth_mb=<m> predicted_mb=<p> memory_ratio=<m/p>``
(peak RSS: the lowest of the repeats, MB = 10^6 bytes; the last three from our run's manifest: its RSS
growth over the footprint before the model loaded, against the estimator's prediction for that run).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/datasets.py (another benchmark) would shadow Hugging Face's ``datasets``, which the Trainer imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

EQ12 = Path(__file__).resolve().parents[1] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def _config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "preset": "custom",
        "rank": 8,
        "alpha": 16,
        "dropout": 0.0,
        "target_modules": "attention",
        "learning_rate": 2e-4,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "epochs": 1,
        "batch_size": args.batch_size,
        "gradient_accumulation_steps": 1,
        "max_length": args.max_length,
        "max_steps": args.max_steps,
        "validation_split": 0.0,
        "gradient_checkpointing": False,
        "precision": "fp32",
        "sample_prompts": 0,
        "logging_steps": 1,
        "save_steps": 10_000,
    }


def ours(args: argparse.Namespace, settings: Any) -> tuple[float, float, int, dict[str, Any] | None]:
    """Our engine, whole recipe: trained tokens per wall second and per CPU second of its training loop."""
    from lorapipe.contract.spec import TrainingJobSpec
    from lorapipe.training.events import EventWriter
    from lorapipe.training.run import run

    spec = TrainingJobSpec.parse(
        {"job_id": "bench", "model": args.model, "dataset": {"uri": str(EQ12)}, "config": _config(args)}
    )
    with tempfile.TemporaryDirectory() as out:
        result = run(spec, Path(out), EventWriter(io.StringIO(), None), settings=settings)
    s = result.summary
    memory = result.manifest.get("memory")  # the estimator's prediction beside the measured peak
    return (
        float(s["tokens_per_s"]),
        s["trained_tokens"] / s["train_cpu_seconds"],
        int(s["trained_tokens"]),
        memory,
    )


def _loop_clock() -> Any:
    from transformers import TrainerCallback

    class LoopClock(TrainerCallback):
        """Times the training loop exactly as our engine does (train begin -> train end)."""

        seconds = 0.0

        cpu_seconds = 0.0

        def on_train_begin(self, *a: Any, **k: Any) -> None:
            self.start, self.cpu_start = time.monotonic(), time.process_time()

        def on_train_end(self, *a: Any, **k: Any) -> None:
            self.seconds = time.monotonic() - self.start
            self.cpu_seconds = time.process_time() - self.cpu_start

    return LoopClock()


def plain(args: argparse.Namespace, settings: Any) -> tuple[float, float, int, dict[str, Any] | None]:
    """A plain Trainer + PEFT script over the same encoded examples."""
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from lorapipe.models.sources import load_model, load_tokenizer
    from lorapipe.training.data import encode_examples, load_examples

    tokenizer = load_tokenizer(args.model, settings)
    features = encode_examples(tokenizer, load_examples(EQ12), args.max_length, None).features

    transformers.set_seed(0)
    model: Any = load_model(args.model, settings, dtype="float32", attn_implementation="sdpa")
    model.config.use_cache = False
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            learning_rate=2e-4,
            num_train_epochs=1,
            max_steps=args.max_steps or -1,
            lr_scheduler_type="constant",
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_steps=1,
            disable_tqdm=True,
            remove_unused_columns=False,
            seed=0,
        )
        batches = _Counting(DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True))
        clock = _loop_clock()
        trainer = Trainer(
            model=model, args=targs, train_dataset=features, data_collator=batches, callbacks=[clock]
        )
        trainer.train()
        # accelerate's loader collates one batch ahead: count the batches the steps trained on
        trained = sum(int((b["labels"] != -100).sum()) for b in batches.seen[: trainer.state.global_step])
    return trained / clock.seconds, trained / clock.cpu_seconds, trained, None


class _Counting:
    """Keeps the batches a collator made (to count the label tokens a bounded run trained)."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.seen: list[dict[str, Any]] = []

    def __call__(self, rows: list[dict[str, Any]]) -> Any:
        batch = self.collator(rows)
        self.seen.append({"labels": batch["labels"]})
        return batch


def _measured(side: str, args: argparse.Namespace) -> tuple[float, float, int, int, dict[str, Any] | None]:
    """One side, run in this (fresh) process: its rates and tokens, and the process's peak RSS in bytes."""
    from lorapipe.settings import Settings

    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    wall, cpu, tokens, memory = (ours if side == "ours" else plain)(args, settings)
    return wall, cpu, tokens, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, memory  # KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lorapipe/tiny-qwen3")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="optimizer steps per run (default: one epoch)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="lorapipe data dir (model cache)")
    args = parser.parse_args()

    import torch

    from lorapipe.models.sources import load_tokenizer
    from lorapipe.settings import Settings
    from lorapipe.training.data import (
        encode_examples,
        length_grouped_batches,
        load_examples,
        padding_efficiency,
    )

    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    tokenizer = load_tokenizer(args.model, settings)
    encoded = encode_examples(tokenizer, load_examples(EQ12), args.max_length, None)
    features = encoded.features
    lengths = encoded.lengths

    # padding efficiency of one epoch's batches
    eff_ours = statistics.mean(
        padding_efficiency(lengths, length_grouped_batches(lengths, args.batch_size, seed))
        for seed in range(5)
    )
    naive = []
    for seed in range(5):
        order = list(range(len(lengths)))
        random.Random(seed).shuffle(order)
        naive.append(
            padding_efficiency(
                lengths, [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
            )
        )
    eff_naive = statistics.mean(naive)

    rates: dict[str, list[float]] = {"ours": [], "plain": []}
    cpu_rates: dict[str, list[float]] = {"ours": [], "plain": []}
    peaks: dict[str, list[int]] = {"ours": [], "plain": []}
    tokens: dict[str, int] = {}
    memory: dict[str, Any] = {}
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no allocator state carried over
    for _ in range(args.repeats):
        for name in ("plain", "ours"):
            with spawn.Pool(1) as pool:
                wall, cpu, tokens[name], peak, memory[name] = pool.apply(_measured, (name, args))
            rates[name].append(wall)
            cpu_rates[name].append(cpu)
            peaks[name].append(peak)
    best = {k: max(v) for k, v in rates.items()}
    best_cpu = {k: max(v) for k, v in cpu_rates.items()}
    print(
        json.dumps(
            {
                "model": args.model,
                "examples": len(features),
                "max_length": args.max_length,
                "batch_size": args.batch_size,
                "trained_tokens_per_epoch": tokens,
                "tokens_per_s": rates,
                "tokens_per_cpu_s": cpu_rates,
                "peak_rss_bytes": peaks,
                "memory_manifest": memory.get("ours"),
                "speed_ratio_wall": best["ours"] / best["plain"],
                "padding_eff_runs_naive": naive,
                "threads": torch.get_num_threads(),
            }
        )
    )
    # Per CPU second: on a shared machine, wall time measures the neighbours as much as the code.
    ratio = best_cpu["ours"] / best_cpu["plain"]
    print(
        f"RESULT engine speed_ratio={ratio:.3f} padding_eff={eff_ours:.3f} padding_eff_naive={eff_naive:.3f} "
        f"peak_rss_mb={min(peaks['ours']) / 1e6:.0f} peak_rss_mb_plain={min(peaks['plain']) / 1e6:.0f}"
        + _predicted(memory.get("ours"))
    )


def _predicted(memory: dict[str, Any] | None) -> str:
    """The manifest's estimate beside what it measured (RSS growth over the pre-model footprint)."""
    if not memory or "error" in memory:
        return ""
    return (
        f" measured_growth_mb={memory['measured_peak_bytes'] / 1e6:.0f}"
        f" predicted_mb={memory['predicted_peak_bytes'] / 1e6:.0f} memory_ratio={memory['ratio']}"
    )


if __name__ == "__main__":
    main()
