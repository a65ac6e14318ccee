"""The process boundary every backend uses.

    python -m lorapipe.training run SPEC.json --out DIR [--resume] [--events-fd N | --events-file PATH]
                                    [--sharding auto|ddp|fsdp]
    python -m lorapipe.training validate SPEC.json
    python -m lorapipe.training presets
    python -m lorapipe.training export-merged RUN_DIR --out DIR [--dtype auto|float32|bfloat16|float16]

``run`` writes events as JSON lines to stdout (or the given descriptor/file) and to
``DIR/metrics.jsonl``; anything else that libraries print goes to stderr, so the event stream stays
parseable. The last event is ``result``. Exit codes: see :mod:`lorapipe.training.failures`. A spec with
``gpus`` > 1 runs under accelerate's launcher, supervised by this process
(:mod:`lorapipe.training.launch`, :mod:`lorapipe.training.distributed`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import IO

from lorapipe.contract.events import ExitCode
from lorapipe.errors import LorapipeError
from lorapipe.training.failures import CancelFlag, Cancelled, classify, exit_code_for
from lorapipe.training.launch import RankRecord


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lorapipe.training", description="lorapipe training engine")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train one job spec into an output folder")
    r.add_argument("spec", type=Path, help="TrainingJobSpec JSON file")
    r.add_argument(
        "--out", type=Path, required=True, help="output folder (artifacts, checkpoints, metrics.jsonl)"
    )
    r.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    where = r.add_mutually_exclusive_group()
    where.add_argument("--events-fd", type=int, help="write events to this open file descriptor")
    where.add_argument("--events-file", type=Path, help="append events to this file")
    r.add_argument(
        "--sharding",
        choices=("auto", "ddp", "fsdp"),
        default="auto",
        help="with several GPUs: auto = DDP when the model fits one GPU, else FSDP; ddp or fsdp force one",
    )
    r.add_argument("--rank-dir", type=Path, help=argparse.SUPPRESS)  # set by the supervisor for its ranks
    v = sub.add_parser("validate", help="check a job spec; exit 0 when valid, 2 with every problem listed")
    v.add_argument("spec", type=Path)
    sub.add_parser("presets", help="print the presets with their values and reasons as JSON")
    e = sub.add_parser(
        "export-merged", help="merge a finished adapter into a full-precision copy of its base"
    )
    e.add_argument("adapter", type=Path, help="output folder of a finished run")
    e.add_argument("--out", type=Path, required=True, help="folder for the merged model")
    e.add_argument("--dtype", default="auto", help="auto (the base's), float32, bfloat16 or float16")
    e.add_argument("--base", help="base model to merge into (default: the manifest's base_model)")
    return p


def _event_stream(args: argparse.Namespace) -> IO[str]:
    """The parent's event stream. Without a target it is the real stdout, and fd 1 then points at
    stderr so stray library prints cannot corrupt the JSON lines."""
    if args.events_fd is not None:
        return os.fdopen(args.events_fd, "w", encoding="utf-8", buffering=1)
    if args.events_file is not None:
        args.events_file.parent.mkdir(parents=True, exist_ok=True)
        return args.events_file.open("a", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return stream


def _process_state() -> tuple[int, int]:
    """(this process's rank, processes in the run): (0, 1) unless started by ``accelerate launch``.
    Initialises the process group; without CUDA the ranks talk over gloo."""
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return int(state.process_index), int(state.num_processes)


def _engine_args(args: argparse.Namespace) -> list[str]:
    """The ``run`` arguments every rank gets (events and rank records are the supervisor's to add)."""
    return ["run", str(args.spec.resolve()), "--out", str(args.out.resolve())] + (
        ["--resume"] if args.resume else []
    )


def _run(args: argparse.Namespace) -> int:
    from lorapipe.contract.spec import TrainingJobSpec
    from lorapipe.training.events import EventWriter

    cancel = CancelFlag()
    cancel.install()  # before the slow imports: a SIGTERM during them still ends as "cancelled"
    args.out.mkdir(parents=True, exist_ok=True)
    rank, world = _process_state()
    record = RankRecord(args.rank_dir, rank) if args.rank_dir is not None else None
    main_process = rank == 0
    if main_process:
        events = EventWriter(_event_stream(args), args.out / "metrics.jsonl")
    else:
        events = EventWriter(None, None)  # other ranks of a multi-GPU run stay silent
    error: LorapipeError | None = None
    try:
        spec = TrainingJobSpec.load(args.spec)
        if spec.task == "evaluate":  # one process: a forward pass per batch needs no sharding
            from lorapipe.training.evaluate import evaluate

            summary = evaluate(spec, args.out, events, cancel=cancel)
            events.emit(
                "result",
                status="succeeded",
                exit_code=int(ExitCode.SUCCESS),
                manifest="manifest.json",
                metrics=summary,
            )
            return _finish(record, ExitCode.SUCCESS, None)
        if world == 1 and record is None:  # the process that owns the run: one process, or supervise N
            from lorapipe.settings import Settings
            from lorapipe.training.distributed import plan_run
            from lorapipe.training.launch import Supervisor

            plan = plan_run(spec, Settings(), events, cancel, args.sharding)
            if plan.world_size > 1:
                return Supervisor(plan, events, cancel).run(_engine_args(args))
        from lorapipe.training.run import run

        result = run(spec, args.out, events, resume=args.resume, cancel=cancel, main_process=main_process)
    except Cancelled as exc:
        events.emit(
            "result", status="cancelled", exit_code=int(ExitCode.CANCELLED), checkpoint=exc.checkpoint
        )
        return _finish(record, ExitCode.CANCELLED, None)
    except Exception as exc:
        error = classify(exc)
        if error.kind != "user":
            traceback.print_exc(file=sys.stderr)  # a bug or an environment problem: keep the trace
        code = exit_code_for(error)
        events.emit("error", **error.to_dict())
        events.emit("result", status="failed", exit_code=int(code))
        return _finish(record, code, error)
    events.emit(
        "result",
        status="succeeded",
        exit_code=int(ExitCode.SUCCESS),
        manifest="manifest.json",
        metrics={k: v for k, v in result.summary.items() if k != "evals"},
    )
    return _finish(record, ExitCode.SUCCESS, None)


def _finish(record: RankRecord | None, code: ExitCode, error: LorapipeError | None) -> ExitCode:
    """Tell the supervisor (when there is one) how this rank ended."""
    if record is not None:
        record.finish(int(code), error.to_dict() if error else None)
    return code


def _validate(args: argparse.Namespace) -> int:
    from lorapipe.contract.spec import TrainingJobSpec

    try:
        spec = TrainingJobSpec.load(args.spec)
    except LorapipeError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return ExitCode.USER_ERROR
    print(spec.to_json())
    return ExitCode.SUCCESS


def _export(args: argparse.Namespace) -> int:
    from lorapipe.settings import Settings
    from lorapipe.training.export import export_merged

    try:
        print(export_merged(args.adapter, args.out, Settings(), dtype=args.dtype, base=args.base))
    except LorapipeError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return exit_code_for(exc)
    return ExitCode.SUCCESS


def _presets() -> int:
    from lorapipe.contract.config import PRESET_NAMES, preset_document

    print(json.dumps({name: preset_document(name) for name in PRESET_NAMES}, indent=2))
    return ExitCode.SUCCESS


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return int(_run(args))
    if args.command == "validate":
        return int(_validate(args))
    if args.command == "export-merged":
        return int(_export(args))
    return int(_presets())


if __name__ == "__main__":
    sys.exit(main())
