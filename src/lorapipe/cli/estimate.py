"""``lorapipe estimate``: VRAM, time and cost per GPU and backend; the GPU catalogue; calibration.

Length: mostly the rich tables of its four commands, which read best next to the command that prints them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lorapipe.errors import LorapipeError

app = typer.Typer(
    help="Estimate VRAM, time and cost before a job; calibrate from finished runs.", no_args_is_help=True
)
out = Console()
if not out.is_terminal:
    out.width = 170  # piped or captured: keep the comparison table on one line per GPU
err = Console(stderr=True)

DEFAULT_MODEL = "Qwen/Qwen3-8B"
TABLE_TIERS = ("serverless_flex", "pod_secure", "pod_community")


def _fail(e: LorapipeError) -> typer.Exit:
    err.print(f"[bold red]error[/] [{e.code}] {e}")
    return typer.Exit(2)


def _catalogue(live: bool) -> Any:
    from lorapipe.estimate.catalogue import load_catalogue
    from lorapipe.estimate.runpod_prices import catalogue_for
    from lorapipe.settings import get_settings

    if not live:
        return load_catalogue()
    result = catalogue_for(get_settings(), load_catalogue())
    for p in result.problems[:3]:
        err.print(f"[yellow]prices[/] {p}")
    return result.catalogue


def _range(r: Any, fmt: str) -> str:
    return "–" if r is None else f"{fmt.format(r.low)}–{fmt.format(r.high)}"


def _hours(r: Any) -> str:
    if r is None:
        return "–"
    if r.high < 2:
        return f"{r.low * 60:.0f}–{r.high * 60:.0f} min"
    return f"{r.low:.1f}–{r.high:.1f} h"


def print_report(report: Any) -> None:
    """The comparison table, the recommendation, warnings and assumptions."""
    out.print(
        f"[bold]{report.model}[/] {report.method}: ~{report.vram_gib['total']} GiB per GPU "
        f"({', '.join(f'{k} {v}' for k, v in report.vram_gib.items() if k != 'total')}); "
        f"{report.tokens['tokens_per_epoch']:,.0f} tokens/epoch × {report.tokens['epochs']:g} epochs, "
        f"padding efficiency {report.tokens['padding_efficiency']:.2f}"
    )
    by_gpu: dict[str, dict[str, Any]] = {}
    for o in report.options:
        by_gpu.setdefault(o.gpu, {})[o.tier] = o
    rec = report.recommendation
    table = Table(title=f"GPUs and backends — {report.prices_as_of}", show_lines=False)
    for col in (
        "GPU",
        "GiB",
        "fits",
        "tokens/s",
        "time (serverless)",
        "serverless flex $",
        "pod secure $",
        "pod community $",
    ):
        table.add_column(col, justify="left" if col in ("GPU", "fits") else "right")
    for gpu, tiers in by_gpu.items():
        first = next(iter(tiers.values()))
        cells = [gpu, f"{first.memory_gib:.0f}", "[green]yes[/]" if first.fits else "[red]no[/]"]
        flex = tiers.get("serverless_flex")
        cells.append(_range(flex.tokens_per_s, "{:,.0f}") if flex and flex.fits else "–")
        cells.append(_hours(flex.hours) if flex and flex.fits else "–")
        for tier in TABLE_TIERS:
            o = tiers.get(tier)
            text = (
                _range(o.usd, "${:.2f}")
                if o is not None and o.usd is not None
                else ("n/a" if first.fits else "–")
            )
            if o is not None and o.fits and o.usd is not None and not o.usable:
                text = f"[dim]{text}[/]"
            if rec and rec.gpu == gpu and rec.tier == tier:
                text = f"[bold green]★ {text}[/]"
            cells.append(text)
        table.add_row(*cells)
    out.print(table)
    if report.cheapest and report.fastest:
        out.print(
            f"cheapest: {report.cheapest.gpu} {report.cheapest.tier}   fastest: {report.fastest.gpu} "
            f"{report.fastest.tier}"
        )
    if rec:
        out.print(f"[bold green]recommended[/] {rec.reason}")
    for w in report.warnings:
        out.print(f"[yellow]warning[/] {w}")
    notes = sorted({w for o in report.options if o.fits for w in o.warnings if " price known " not in w})
    for n in notes:
        out.print(f"[dim]note[/] {n}")
    out.print(
        "[dim]note[/] n/a = no price in the catalogue for that GPU and tier (live prices: set "
        "LORAPIPE_RUNPOD_API_KEY); dim = priced but not recommendable (see notes)"
    )
    out.print("[bold]assumptions[/]")
    for a in report.assumptions:
        out.print(f"  - {a}")


@app.command("job")
def job(
    dataset: Annotated[Path | None, typer.Argument(help="Training data file (any supported format).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Base model id.")] = DEFAULT_MODEL,
    preset: Annotated[str, typer.Option(help="Engine preset the run starts from.")] = "balanced",
    method: Annotated[str | None, typer.Option(help="lora, qlora, dora or rslora.")] = None,
    rank: Annotated[int | None, typer.Option(min=1, help="LoRA rank.")] = None,
    targets: Annotated[
        str | None, typer.Option(help="attention, all-linear, or comma-separated names.")
    ] = None,
    max_length: Annotated[int | None, typer.Option(min=16, help="Tokens per example.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Examples per micro-batch.")] = None,
    epochs: Annotated[float | None, typer.Option(min=0.01, help="Passes over the data.")] = None,
    packing: Annotated[bool | None, typer.Option("--packing/--no-packing", help="Packed batches.")] = None,
    checkpointing: Annotated[
        bool | None, typer.Option("--checkpointing/--no-checkpointing", help="Gradient checkpointing.")
    ] = None,
    logits: Annotated[str, typer.Option(help="full, chunked or fused loss over the vocabulary.")] = "full",
    gpu: Annotated[list[str] | None, typer.Option("--gpu", help="Only these GPU ids (repeatable).")] = None,
    gpus: Annotated[int, typer.Option(min=1, max=64, help="GPUs per job.")] = 1,
    sharding: Annotated[
        str, typer.Option(help="ddp (a full copy per GPU) or fsdp (weights split across the GPUs).")
    ] = "ddp",
    budget: Annotated[float | None, typer.Option(min=0, help="Monthly budget, USD.")] = None,
    spent: Annotated[float, typer.Option(min=0, help="Spent this month, USD.")] = 0.0,
    execution_timeout: Annotated[
        float | None, typer.Option(help="Serverless endpoint execution timeout, s.")
    ] = None,
    not_cached: Annotated[bool, typer.Option("--not-cached", help="Model must be downloaded first.")] = False,
    tokens: Annotated[int | None, typer.Option(help="Tokens per epoch, instead of reading DATASET.")] = None,
    examples: Annotated[int, typer.Option(help="Examples (with --tokens).")] = 1000,
    live: Annotated[
        bool, typer.Option("--live/--catalogue", help="Live RunPod pod prices when a key is set.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare every GPU and backend for training MODEL on DATASET, and recommend one."""
    from lorapipe.contract.config import TrainingConfig
    from lorapipe.estimate.calibration import load_measurements, measurements_path
    from lorapipe.estimate.config import EstimateConfig
    from lorapipe.estimate.model_lookup import resolve_model_facts
    from lorapipe.estimate.request import DatasetTokensIn, EstimateRequest, estimate_job
    from lorapipe.settings import get_settings

    try:
        tc = TrainingConfig(preset=preset)
        overrides: dict[str, Any] = {"logits": logits, "gpus": gpus, "sharding": sharding}
        for key, value in (
            ("method", method),
            ("rank", rank),
            ("max_length", max_length),
            ("batch_size", batch_size),
            ("epochs", epochs),
            ("packing", packing),
            ("gradient_checkpointing", checkpointing),
        ):
            if value is not None:
                overrides[key] = value
        if targets:
            overrides["targets"] = (
                targets if targets in ("attention", "all-linear") else tuple(targets.split(","))
            )
        cfg = EstimateConfig.from_training_config(tc, **overrides)
        data = _dataset_tokens(dataset, model, cfg, tc.validation_split, tokens, examples)
        facts = resolve_model_facts(model)
        request = EstimateRequest(
            model=model,
            config=cfg,
            dataset=DatasetTokensIn(**data),
            gpus=gpu,
            budget_usd=budget,
            spent_usd=spent,
            execution_timeout_s=execution_timeout,
            model_cached=not not_cached,
        )
        report = estimate_job(
            request,
            facts=facts,
            catalogue=_catalogue(live),
            measurements=load_measurements(measurements_path(get_settings())),
        )
    except LorapipeError as e:
        raise _fail(e) from None
    except ValueError as e:
        err.print(f"[bold red]error[/] {e}")
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        print_report(report)


def _dataset_tokens(
    dataset: Path | None, model: str, cfg: Any, validation_split: float, tokens: int | None, examples: int
) -> dict[str, Any]:
    from lorapipe.estimate.timing import tokens_from_report

    if tokens is not None:
        val = round(tokens * validation_split)
        return {
            "tokens": tokens - val,
            "trained_tokens": (tokens - val) // 2,
            "examples": examples,
            "padding_efficiency": 1.0 if cfg.packing else 0.8,
            "validation_tokens": val,
        }
    if dataset is None or not dataset.is_file():
        raise ValueError(f"no such dataset file: {dataset} (or pass --tokens N)")
    from lorapipe.datasets.token_count import inspect_with_tokens

    report = inspect_with_tokens(
        dataset, model=model, max_length=cfg.max_length, batch_size=cfg.batch_size, samples=0
    )
    t = tokens_from_report(report, cfg.packing, validation_split)
    return {
        "tokens": t.tokens,
        "trained_tokens": t.trained_tokens,
        "examples": t.examples,
        "padding_efficiency": t.padding_efficiency,
        "validation_tokens": t.validation_tokens,
    }


@app.command("gpus")
def gpus_table(
    live: Annotated[
        bool, typer.Option("--live/--catalogue", help="Live RunPod pod prices when a key is set.")
    ] = True,
) -> None:
    """The GPU catalogue: memory, BF16 peak, bandwidth and prices, each price with source and date."""
    cat = _catalogue(live)
    table = Table(title=f"GPU catalogue — {cat.prices_as_of}")
    for col in (
        "GPU",
        "GiB",
        "BF16 TFLOP/s",
        "GB/s",
        "serverless flex $/s",
        "active $/s",
        "pod secure $/h",
        "pod community $/h",
    ):
        table.add_column(col, justify="left" if col == "GPU" else "right")
    sources: dict[str, str] = {}
    for g in cat.gpus:
        cells = [g.id, f"{g.memory_gib:g}", f"{g.bf16_dense_tflops:g}", f"{g.memory_bandwidth_gbs:g}"]
        for kind in ("serverless_flex", "serverless_active", "pod_secure", "pod_community"):
            p = g.price(kind)
            cells.append("n/a" if p is None else f"{p.usd:g} [dim]({p.source}, {p.date})[/]")
            if p is not None:
                sources[p.source] = cat.source_text(p)
        table.add_row(*cells)
    out.print(table)
    for key, text in sorted(sources.items()):
        out.print(f"[dim]{key}[/]: {text}")


@app.command("references")
def references() -> None:
    """Our VRAM estimate against published reference points (each must be within ±25 %)."""
    from lorapipe.estimate.references import check_vram_references

    rows = check_vram_references()
    table = Table(title="VRAM estimate vs published reference points")
    for col in ("reference", "published GiB", "ours GiB", "error", "ok"):
        table.add_column(col, justify="left" if col == "reference" else "right")
    for r in rows:
        table.add_row(
            r.name,
            "fit check" if r.reference_gib is None else f"{r.reference_gib:.1f}",
            f"{r.estimate_gib:.1f}",
            "–" if r.error_pct is None else f"{r.error_pct:+.0f} %",
            "[green]yes[/]" if r.ok else "[red]no[/]",
        )
    out.print(table)
    out.print(f"{sum(r.ok for r in rows)}/{len(rows)} within tolerance")


@app.command("record")
def record(
    manifest: Annotated[Path, typer.Argument(help="manifest.json of a finished run.")],
    device: Annotated[str, typer.Option(help="'cpu' or the GPU catalogue id it ran on.")] = "cpu",
    wall_seconds: Annotated[float | None, typer.Option(help="Whole process wall time, s.")] = None,
) -> None:
    """Add a finished run to the calibration measurements (``<data_dir>/estimate/measurements.jsonl``)."""
    from lorapipe.contract.config import TrainingConfig
    from lorapipe.estimate.calibration import append_measurement, measurement_from_manifest, measurements_path
    from lorapipe.estimate.catalogue import load_catalogue
    from lorapipe.estimate.config import EstimateConfig
    from lorapipe.estimate.model_lookup import resolve_model_facts
    from lorapipe.estimate.throughput import flops_per_token
    from lorapipe.estimate.vram import estimate_vram
    from lorapipe.settings import get_settings

    try:
        body = json.loads(manifest.read_text("utf-8"))
        facts = resolve_model_facts(body["base_model"], Path(body.get("base_model_dir") or "."))
        cfg = EstimateConfig.from_training_config(TrainingConfig(**body["config"]))
        train = body["dataset"]["train"]
        mean = train["tokens"] / max(train["examples_used"], 1)
        peak = None if device == "cpu" else load_catalogue().get(device).bf16_dense_tflops * 1e12
        events_file = manifest.parent / "metrics.jsonl"
        events = (
            [json.loads(line) for line in events_file.read_text("utf-8").splitlines() if line.strip()]
            if events_file.is_file()
            else None
        )
        m = measurement_from_manifest(
            body,
            device=device,
            flops_per_token=flops_per_token(facts, cfg, mean / 2),
            eval_flops_per_token=2.0 * facts.active_matmul_params,
            peak_flops=peak,
            wall_seconds=wall_seconds,
            events=events,
            # What we would have estimated for this run: kept to compare with the measured peak.
            predicted={"vram_bytes": estimate_vram(facts, cfg).total},
        )
        path = measurements_path(get_settings())
        append_measurement(path, m)
    except LorapipeError as e:
        raise _fail(e) from None
    out.print(
        f"recorded {m.model_id} on {device}: {m.achieved_flops / 1e9:.2f} GFLOP/s achieved → {path} "
        f"({time.strftime('%H:%M:%S')})"
    )
