"""``lorapipe datasets``: inspect a dataset file, convert it to the canonical JSONL."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from lorapipe.datasets.readers import FORMATS, ReadSummary, read_examples
from lorapipe.datasets.render import to_rich
from lorapipe.datasets.report import DatasetReport
from lorapipe.errors import LorapipeError

app = typer.Typer(help="Inspect and convert datasets.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DEFAULT_MODEL = "Qwen/Qwen3-8B"
PROGRESS_MIN_BYTES = 5 << 20

FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help=f"auto, or one of: {', '.join(FORMATS)}", show_default=True)
]


def fail(e: LorapipeError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{e.code}] {e}')}")
    return typer.Exit(2)


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="Dataset file (JSON or JSONL, any supported format).")],
    format: FormatOpt = "auto",
    model: Annotated[
        str, typer.Option("--model", "-m", help="Base model whose tokenizer counts the tokens.")
    ] = DEFAULT_MODEL,
    max_length: Annotated[int, typer.Option(min=16, max=262_144, help="Training max length, tokens.")] = 2048,
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Batch size for padding figures.")] = 8,
    no_tokens: Annotated[bool, typer.Option("--no-tokens", help="Skip token statistics (fast).")] = False,
    samples: Annotated[int, typer.Option(min=0, max=20, help="Rendered examples to show.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Validate FILE and report what training will see. Exits 1 when the file has errors."""
    from lorapipe.datasets.token_count import inspect_with_tokens

    if not file.is_file():
        err.print(f"[bold red]error[/] no such file: {file}")
        raise typer.Exit(2)
    size = file.stat().st_size
    show_progress = size >= PROGRESS_MIN_BYTES and err.is_terminal and not as_json
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            transient=True,
            disable=not show_progress,
        ) as bar:
            task = bar.add_task(f"reading {file.name}", total=size)
            report = inspect_with_tokens(
                file,
                format=format,
                model=None if no_tokens else model,
                max_length=max_length,
                batch_size=batch_size,
                samples=samples,
                progress=lambda n: bar.update(task, completed=n),
            )
    except LorapipeError as e:
        raise fail(e) from None
    if as_json:
        sys.stdout.write(json.dumps(report.model_dump(mode="json"), ensure_ascii=False) + "\n")
    else:
        print_report(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def convert(
    file: Annotated[Path, typer.Argument(help="Dataset file in any supported format.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Canonical JSONL to write.")],
    format: FormatOpt = "auto",
) -> None:
    """Write FILE's examples as canonical JSONL (one example per line). Refuses files with errors."""
    from lorapipe.datasets.problems import ProblemLog

    summary = ReadSummary(log=ProblemLog(keep=20))
    tmp = output.with_name(output.name + ".partial")
    try:
        with file.open("rb") as raw, tmp.open("w", encoding="utf-8") as dst:
            for ex in read_examples(raw, summary, format=format):
                dst.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
    except LorapipeError as e:
        tmp.unlink(missing_ok=True)
        raise fail(e) from None
    if summary.log.errors:
        tmp.unlink(missing_ok=True)
        for p in summary.log.kept:
            err.print(f"[red]{p.severity}[/] {escape(f'[{p.code}] {p.location()}: {p.message}')}")
        err.print(f"{summary.log.errors} errors: nothing written. Run `lorapipe datasets inspect {file}`.")
        raise typer.Exit(1)
    tmp.replace(output)
    out.print(f"wrote {summary.examples} examples ({summary.conversations} conversations) to {output}")


def print_report(r: DatasetReport) -> None:
    status = "[bold green]ready[/]" if r.ok else "[bold red]has errors[/]"
    out.print(
        f"[bold]{r.source}[/]  {r.format or 'unknown format'} ({r.container})  {r.bytes:,} bytes  {status}"
    )
    counts = Table(show_header=False, box=None, pad_edge=False)
    for label, value in (
        ("records", r.records),
        ("conversations", r.conversations),
        ("examples (trainable)", r.examples),
        ("messages", f"{r.messages:,}  " + ", ".join(f"{k} {v}" for k, v in sorted(r.roles.items()))),
        ("errors / warnings", f"{r.errors} / {r.warnings}"),
    ):
        counts.add_row(label, str(value))
    out.print(counts)
    if r.tokens:
        t = r.tokens
        tok = Table(title=f"tokens ({t.tokenizer}, max_length {t.max_length})", show_header=False, box=None)
        tok.add_row("total / trained", f"{t.total:,} / {t.trained:,}  ({t.trained_share:.1%} trained)")
        tok.add_row(
            "length", "  ".join(f"{k} {v:,}" for k, v in t.percentiles.items()) + f"  mean {t.mean:,}"
        )
        tok.add_row(
            "over max_length",
            f"{t.over_max_length}: {t.truncated} lose {t.dropped_messages} history messages, {t.unfit} skipped",
        )
        p = t.padding
        tok.add_row(
            f"padding eff. (batch {p.batch_size})",
            f"naive {p.naive:.1%}  length-grouped {p.length_grouped:.1%}  packed {p.packed:.1%}",
        )
        out.print(tok)
        peak = max((b.count for b in t.histogram), default=0) or 1
        for b in t.histogram:
            if b.count:
                out.print(f"  {b.lo:>7,}–{b.hi:<7,} {'█' * max(1, round(30 * b.count / peak))} {b.count}")
    for key, dist in r.metadata.items():
        out.print(f"[bold]{key}[/]: " + ", ".join(f"{k} {v}" for k, v in dist.items()))
    if r.problems:
        out.print(f"[bold]problems[/] (first {len(r.problems)} of {r.errors + r.warnings}):")
        for pr in r.problems[:30]:
            color = "red" if pr.severity == "error" else "yellow"
            out.print(
                f"  [{color}]{pr.severity}[/] [bold]{pr.code}[/] {pr.location()}: {pr.message}",
                highlight=False,
            )
            if pr.suggestion:
                out.print(f"      fix: {pr.suggestion}", style="dim", highlight=False)
    for s in r.samples:
        out.rule(f"example {s.id}: {s.tokens} tokens, {s.trained_tokens} trained (green)")
        out.print(to_rich(s))
