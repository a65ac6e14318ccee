"""``lorapipe train DATASET``: upload a dataset, create a fine-tuning job, and follow it live.

Talks to the configured service (``LORAPIPE_API_URL``) or to an embedded one (see
:mod:`lorapipe.cli.client`); the progress bar is fed by the job's server-sent event stream.

A service accepts a model folder only under its ``LORAPIPE_MODEL_DIRS``. The embedded service runs on
the user's own machine for that user alone, so ``--model ./my-model`` keeps working there: the CLI
allows exactly the folder (or .gguf file) named, nothing around it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lorapipe.backends.registry import BACKENDS
from lorapipe.cli.client import ApiClient, ApiError, connect
from lorapipe.cli.progress import JobProgress
from lorapipe.models.catalog import find_model_spec
from lorapipe.settings import Settings, get_settings

out = Console()
err = Console(stderr=True)


def fail(exc: ApiError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(str(exc))}")
    return typer.Exit(2)


def follow(client: ApiClient, job_id: str, console: Console = err) -> dict[str, Any]:
    """Show a job's progress (step, loss, eval loss, ETA) and its messages until it ends; answer the
    final job. Ctrl-C asks whether to cancel the job or only stop watching (then answers the job as
    it is)."""
    status = client.job(job_id)["status"]
    live = JobProgress(console, status)
    try:
        with live.display:
            for event in client.events(job_id):
                data = event.get("data") or {}
                if data.get("engine_type") == "metrics":
                    live.apply(data)
                elif event.get("type") != "metrics":
                    status = client.job(job_id)["status"]  # messages are rare: one request each is cheap
                    live.display.console.print(
                        f"[dim]{escape(_clock(event))}[/] {escape(str(event['message']))}"
                    )
                live.show(status)
    except KeyboardInterrupt:
        return _interrupted(client, job_id, console)
    return client.job(job_id)


def _clock(event: dict[str, Any]) -> str:
    import datetime as dt

    created = event.get("created_at")
    if not isinstance(created, int | float):
        return ""
    return dt.datetime.fromtimestamp(created).strftime("%H:%M:%S")


def _interrupted(client: ApiClient, job_id: str, console: Console) -> dict[str, Any]:
    if typer.confirm(f"\nCancel job {job_id}? (No = stop watching; the job keeps running)", default=False):
        client.cancel(job_id)
        console.print(f"cancel requested; waiting for job {job_id} to stop…")
        for _ in client.events(job_id):
            pass  # the stream ends once the job is terminal (its process is gone)
    elif client.embedded:
        console.print(
            "[yellow]detached[/]: this command ran the service in-process, so it stops now; the job is "
            "picked up again by the next `lorapipe serve` (or the next lorapipe command that starts one)"
        )
    return client.job(job_id)


def summary_line(job: dict[str, Any]) -> str:
    tail = f" -> {job['fine_tuned_model']}" if job.get("fine_tuned_model") else ""
    error = job.get("error") or {}
    reason = f" ({error.get('code')}: {error.get('message')})" if error else ""
    return f"{job['id']}: {job['status']}{tail}{reason}"


def own_model_folder(model: str, settings: Settings) -> tuple[str, Settings]:
    """``(model, settings)`` for the service this command talks to. With no service configured (the
    embedded, single-user one) a model folder or .gguf file that exists here is given by its absolute
    path and allowed in the settings; anything else, or a configured service, is left as it is."""
    path = Path(model).expanduser()
    if settings.api_url or find_model_spec(model) is not None or not path.exists():
        return model, settings
    real = path.resolve()
    return str(real), settings.model_copy(update={"model_dirs": [*settings.model_dirs, real]})


def train(
    dataset: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Training data (JSONL).")],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Base model: catalogue id or alias, hub id, or (embedded service only) a local model folder.",
        ),
    ],
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="Preset (lorapipe estimate presets).")
    ] = "balanced",
    backend: Annotated[str, typer.Option(help=f"Where to train: {', '.join(BACKENDS)}.")] = "local",
    suffix: Annotated[str | None, typer.Option(help="Label in the fine-tuned model id.")] = None,
    gpus: Annotated[
        int, typer.Option(min=1, max=8, help="GPUs for the job (>1: DDP or FSDP under accelerate launch).")
    ] = 1,
    config: Annotated[
        str | None, typer.Option(help="TrainingConfig overrides as JSON, e.g. '{\"max_steps\": 20}'.")
    ] = None,
    watch: Annotated[
        bool | None,
        typer.Option(help="Follow the job with a progress bar (default: on when the service is embedded)."),
    ] = None,
) -> None:
    """Upload DATASET, create a fine-tuning job on it, and (with --watch) follow it to the end."""
    overrides: dict[str, Any] | None = None
    if config:
        try:
            overrides = json.loads(config)
        except json.JSONDecodeError as exc:
            err.print(f"[bold red]error[/] --config is not JSON: {escape(str(exc))}")
            raise typer.Exit(2) from None
    model, settings = own_model_folder(model, get_settings())
    try:
        with connect(settings) as client:
            if watch is False and client.embedded:
                err.print(
                    "[yellow]note[/]: no service configured (LORAPIPE_API_URL), so this command runs one "
                    "in-process; without --watch the job waits for the next `lorapipe serve`"
                )
            file = client.upload_file(dataset)
            err.print(
                f"uploaded {escape(dataset.name)} as {file['id']} ({file['bytes']} bytes, {file['status']})"
            )
            body: dict[str, Any] = {
                "model": model,
                "training_file": file["id"],
                "preset": preset,
                "backend": backend,
            }
            if suffix:
                body["suffix"] = suffix
            if gpus != 1:
                body["gpus"] = gpus
            if overrides:
                body["config"] = overrides
            job = client.create_job(body)
            err.print(f"created job {job['id']} ({job['status']})")
            if watch is False or (watch is None and not client.embedded):
                out.print(job["id"])
                return
            job = follow(client, job["id"])
    except ApiError as exc:
        raise fail(exc) from None
    out.print(escape(summary_line(job)))
    raise typer.Exit(0 if job["status"] == "succeeded" else 1)
