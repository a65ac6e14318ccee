"""Shared pieces of the specpipe commands: options, one-line failures, config loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from specpipe.project_config import ConfigError, ProjectConfig, load_config

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="project file (default ./specpipe.toml)")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise."""
    typer.secho(f"specpipe: {message}", err=True, fg="red")
    return typer.Exit(code)


def config_or_exit(path: Path | None) -> ProjectConfig:
    """The project config, or exit 2 with the reason."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def existing(path: Path, what: str) -> Path:
    """``path`` when it is a file, else exit 2 naming what was expected."""
    if not path.is_file():
        raise fail(f"{what} not found: {path}")
    return path
