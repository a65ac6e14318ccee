"""``lorapipe models``: base models on this machine, e.g. filling the RunPod network volume's cache.

``pull`` runs where the hub is reachable (a pod with the volume attached, or any machine whose model
cache is then copied); jobs that name the model then start without downloading it.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from lorapipe.errors import ConfigError, LorapipeError

app = typer.Typer(help="Base models: fill a model cache ahead of the jobs.", no_args_is_help=True)
err = Console(stderr=True)

PROGRESS_LINE_EVERY_S = 10.0
"""Least time between two progress lines when stderr is not a terminal (a pod's log), in seconds."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@app.command("pull")
def pull(
    hf_id: Annotated[str, typer.Argument(metavar="HF_ID", help="Hub model id, owner/name.")],
    dest: Annotated[
        Path,
        typer.Option(
            "--to",
            help="The model cache to fill (created when missing): the worker's "
            "LORAPIPE_WORKER_MODEL_CACHE_DIR or the engine's LORAPIPE_MODEL_CACHE_DIR.",
        ),
    ],
    revision: Annotated[str | None, typer.Option(help="Branch, tag or commit (default: main).")] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", help="Extra file pattern to fetch besides what the engine reads (repeatable)."
        ),
    ] = None,
    token_env: Annotated[
        str, typer.Option("--token-env", help="Environment variable holding the hub token (gated models).")
    ] = "HF_TOKEN",
) -> None:
    """Download a hub model into a model cache, resumably: run it again after an interruption and it
    continues from the bytes already there. The hub is HF_ENDPOINT (default huggingface.co)."""
    from huggingface_hub.utils import disable_progress_bars

    from lorapipe.models.pull import pull_model
    from lorapipe.settings import get_settings

    disable_progress_bars()  # one progress display: ours, for the whole snapshot
    try:
        token = _token(token_env)
        with _Progress() as progress:
            result = pull_model(
                hf_id,
                dest,
                get_settings(),
                revision=revision,
                include=include or (),
                token=token,
                token_env=token_env,
                progress=progress.update,
            )
    except LorapipeError as exc:
        err.print(f"[bold red]error[/] {escape(f'[{exc.code}] {exc}')}", soft_wrap=True)
        raise typer.Exit(2) from None
    cache = dest.expanduser().resolve()
    reference = f"{hf_id}@{revision}" if revision else hf_id
    # Plain lines, never wrapped: the setting lines are copied as they are.
    typer.echo(
        f"pulled {hf_id} at commit {result.commit}: {result.files} files, {_size(result.total_bytes)} "
        f"({_size(result.received_bytes)} received now)"
    )
    typer.echo(f"snapshot: {result.snapshot}")
    typer.echo("settings (the folder as the process that trains sees it):")
    typer.echo(f"  RunPod worker:  LORAPIPE_WORKER_MODEL_CACHE_DIR={cache}")
    typer.echo(f"  local engine:   LORAPIPE_MODEL_CACHE_DIR={cache}")
    typer.echo(f"base model for jobs: {reference}")


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.2f} MB"


def _token(name: str) -> str | None:
    """The hub token from environment variable ``name`` (never a flag: flags land in shell history and
    process lists). The user chooses the variable, so it is read here and not in ``Settings``."""
    if not _ENV_NAME.fullmatch(name) or (name.startswith("hf_") and len(name) > 30):
        raise ConfigError(
            f"--token-env takes the name of an environment variable; {name[:3]!r}... is not one",
            param="--token-env",
            hint="export HF_TOKEN=<token> and pass --token-env HF_TOKEN (or leave it out)",
        )
    return os.environ.get(name) or None


class _Progress:
    """Bytes in the cache out of the snapshot's size: a bar on a terminal, else a line now and then."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.last_line = 0.0
        if err.is_terminal:
            self.bar = Progress(
                TextColumn("pulling"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err
            )
            self.task = self.bar.add_task("pull", total=None)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, received: int, total: int | None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=received, total=total)
            return
        now = time.monotonic()
        if now - self.last_line >= PROGRESS_LINE_EVERY_S:
            self.last_line = now
            shown = f"{_size(received)} of {_size(total)}" if total else _size(received)
            err.print(f"pulling: {shown} in the cache", soft_wrap=True)
