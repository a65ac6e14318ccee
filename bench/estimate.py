"""Does calibration work? Train for real on CPU, learn from it, predict a bigger run, then measure it.

1. Run the engine (``python -m lorapipe.training run``) on the tiny Qwen3 over a synthetic chat set
   of N examples; record the run (manifest, event stream, wall time) as a calibration measurement.
2. Count the tokens of a second data set of a different size (K·N examples) with the model's own
   tokenizer (``inspect_dataset``) and predict that run's training-stage and wall time from the
   calibration runs measured so far.
3. Run it and compare. Each size runs ``--runs`` times (calibration runs all before the
   prediction, measured runs all after it) and medians are compared: this 2-core machine is shared,
   and other processes change its speed by up to 3× from one minute to the next, so a single run
   measures the neighbours as much as the estimator. Finally check our VRAM estimate against the
   published reference table.

    .venv/bin/python bench/estimate.py [--examples 160] [--factor 2.5] [--epochs 2] [--runs 3]

Last line: ``RESULT estimate time_error_pct=<x> vram_refs_within_25pct=<k>/<n>`` where x is the
signed error of the predicted training-stage time (mid of the range) against the median measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "lorapipe/tiny-qwen3"
WORDS = [
    "please",
    "now",
    "tell",
    "me",
    "quickly",
    "the",
    "sum",
    "of",
    "these",
    "two",
    "whole",
    "numbers",
    "and",
    "explain",
    "it",
    "simply",
]


def write_chats(path: Path, n: int, seed: int) -> Path:
    """``n`` chats of varied length (so padding matters), two per conversation, canonical JSONL."""
    from lorapipe.contract.conversation import Example, Message

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            a, b = rng.randint(1, 999), rng.randint(1, 999)
            filler = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 60)))
            reply = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 25)))
            ex = Example(
                id=f"ex{i}",
                conversation_id=f"c{i // 2}",
                messages=(
                    Message("system", "You add numbers."),
                    Message("user", f"{filler} What is {a} plus {b}?"),
                    Message("assistant", f"{a} plus {b} is {a + b}. {reply}", trained=True),
                ),
            )
            fh.write(json.dumps(ex.to_dict()) + "\n")
    return path


def config(epochs: float) -> dict[str, Any]:
    return {
        "preset": "custom",
        "rank": 8,
        "alpha": 16,
        "dropout": 0.0,
        "target_modules": "all-linear",
        "learning_rate": 0.002,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "epochs": epochs,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 256,
        "validation_split": 0.1,
        "gradient_checkpointing": False,
        "precision": "fp32",
        "sample_prompts": 1,
        "sample_max_new_tokens": 8,
    }


def train(
    work: Path, name: str, data: Path, epochs: float, env: dict[str, str]
) -> tuple[dict[str, Any], float]:
    """One engine run in a child process; returns its manifest and the process's wall seconds."""
    spec = {"job_id": name, "model": MODEL, "dataset": {"uri": str(data)}, "config": config(epochs)}
    spec_path = work / f"{name}.json"
    spec_path.write_text(json.dumps(spec), "utf-8")
    out = work / name
    started, cpu_before = time.monotonic(), _children_cpu()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lorapipe.training",
            "run",
            str(spec_path),
            "--out",
            str(out),
            "--events-file",
            str(work / f"{name}.events.jsonl"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu = time.monotonic() - started, _children_cpu() - cpu_before
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"engine run {name} failed with exit code {proc.returncode}")
    return json.loads((out / "manifest.json").read_text("utf-8")), wall, cpu


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _import_refs() -> Any:
    from lorapipe.estimate.references import check_vram_references

    return check_vram_references


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=160, help="examples in the calibration run")
    ap.add_argument("--factor", type=float, default=2.5, help="size of the predicted run ÷ the first")
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--runs", type=int, default=3, help="runs of each size (medians are compared)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="lorapipe-bench-estimate-") as tmp:
        work = Path(tmp)
        # One thread per run: on a shared CPU a single-threaded run is far less sensitive to other
        # processes than two threads spinning on each other (the runs are timed, not optimised).
        env = {**os.environ, "LORAPIPE_DATA_DIR": str(work / "data"), "OMP_NUM_THREADS": "1"}
        os.environ["LORAPIPE_DATA_DIR"] = env["LORAPIPE_DATA_DIR"]  # this process reads Settings too

        from lorapipe.contract.config import TrainingConfig
        from lorapipe.datasets.token_count import inspect_with_tokens
        from lorapipe.estimate.calibration import (
            append_measurement,
            load_measurements,
            measurement_from_manifest,
        )
        from lorapipe.estimate.catalogue import load_catalogue
        from lorapipe.estimate.config import EstimateConfig
        from lorapipe.estimate.model_lookup import resolve_model_facts
        from lorapipe.estimate.priors import load_priors
        from lorapipe.estimate.throughput import flops_per_token
        from lorapipe.estimate.timing import estimate_time, tokens_from_report

        facts = resolve_model_facts(MODEL)
        cfg = EstimateConfig.from_training_config(
            TrainingConfig(**config(args.epochs)), base_bytes_per_param=4.0
        )
        store = work / "data" / "estimate" / "measurements.jsonl"
        n_big = round(args.examples * args.factor)
        small = write_chats(work / "small.jsonl", args.examples, seed=1)
        big = write_chats(work / "big.jsonl", n_big, seed=2)
        report = inspect_with_tokens(
            big, model=MODEL, max_length=cfg.max_length, batch_size=cfg.batch_size, samples=0
        )
        data = tokens_from_report(report, packing=cfg.packing, validation_split=0.1)
        print(
            f"{MODEL} LoRA on CPU, {args.epochs:g} epochs; calibrate on {args.examples} examples, predict "
            f"{n_big} ({data.tokens:,} tokens/epoch counted with the model's tokenizer); {os.cpu_count()} CPUs"
        )

        print(f"[1] {args.runs} calibration run(s) on {args.examples} examples", flush=True)
        cpu_small: list[float] = []
        for k in range(1, args.runs + 1):
            manifest, wall, cpu = train(work, f"calibrate-{k}", small, args.epochs, env)
            stats = manifest["dataset"]["train"]
            mean = stats["tokens"] / max(stats["examples_used"], 1)
            m = measurement_from_manifest(
                manifest,
                device="cpu",
                flops_per_token=flops_per_token(facts, cfg, mean / 2),
                eval_flops_per_token=2.0 * facts.active_matmul_params,
                wall_seconds=wall,
                events=read_events(work / f"calibrate-{k}" / "metrics.jsonl"),
            )
            append_measurement(store, m)
            cpu_small.append(cpu)
            stage = float(manifest["timings_s"]["training"])
            print(
                f"    run {k}: training stage {stage:6.1f} s = steps {m.train_seconds:.1f} s "
                f"({m.input_tokens / m.train_seconds:,.0f} tok/s) + trainer start/evals/checkpoints "
                f"{m.stage_overhead_seconds or 0:.1f} s; wall {wall:.1f} s; process CPU {cpu:.0f} s; "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )

        prediction = estimate_time(
            facts, cfg, data, "cpu", "local", load_catalogue(), load_priors(), load_measurements(store)
        )
        predicted = prediction.training + prediction.evals
        predicted = predicted + prediction.fixed.get("trainer overhead (measured)", predicted.scale(0))
        print(
            f"[2] prediction for {n_big} examples: training stage {predicted.low:.1f}–{predicted.high:.1f} s "
            f"(mid {predicted.mid:.1f}), wall {prediction.total.low:.1f}–{prediction.total.high:.1f} s "
            f"(mid {prediction.total.mid:.1f}) [{prediction.throughput.basis}]",
            flush=True,
        )

        print(f"[3] {args.runs} measured run(s) on {n_big} examples", flush=True)
        stages: list[float] = []
        walls: list[float] = []
        cpu_big: list[float] = []
        for k in range(1, args.runs + 1):
            manifest_b, wall_b, cpu_b = train(work, f"predicted-{k}", big, args.epochs, env)
            stages.append(float(manifest_b["timings_s"]["training"]))
            walls.append(wall_b)
            cpu_big.append(cpu_b)
            err_k = 100.0 * (predicted.mid - stages[-1]) / stages[-1]
            print(
                f"    run {k}: training stage {stages[-1]:6.1f} s (error {err_k:+.1f} %); wall {wall_b:.1f} s; "
                f"process CPU {cpu_b:.0f} s; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )

    measured = statistics.median(stages)
    err = 100.0 * (predicted.mid - measured) / measured
    err_wall = 100.0 * (prediction.total.mid - statistics.median(walls)) / statistics.median(walls)
    where = "inside" if predicted.low <= measured <= predicted.high else "outside"
    print(
        f"median measured training stage {measured:.1f} s vs predicted {predicted.mid:.1f} s: error {err:+.1f} % "
        f"({where} the predicted range); wall error {err_wall:+.1f} %; median process CPU "
        f"{statistics.median(cpu_small):.0f} s → {statistics.median(cpu_big):.0f} s"
    )
    refs = _import_refs()()
    ok = sum(r.ok for r in refs)
    print("VRAM estimate vs published reference points (±25 %):")
    for r in refs:
        ref = "fit check" if r.reference_gib is None else f"{r.reference_gib:6.1f} GiB"
        errs = "" if r.error_pct is None else f" {r.error_pct:+6.1f} %"
        print(
            f"  {'ok ' if r.ok else 'BAD'} {r.name:62s} published {ref}  ours {r.estimate_gib:6.1f} GiB{errs}"
        )
    print(f"RESULT estimate time_error_pct={err:.1f} vram_refs_within_25pct={ok}/{len(refs)}")


if __name__ == "__main__":
    main()
