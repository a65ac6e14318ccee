"""``lorapipe`` entry point: one Typer app with a sub-app per area.

Sub-apps import their heavy dependencies lazily, so ``lorapipe --help`` stays fast.
"""

from __future__ import annotations

import typer

from lorapipe.cli.datasets import app as datasets_app

app = typer.Typer(
    name="lorapipe",
    help="LoRA fine-tuning pipeline: datasets, estimates, training jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_app, name="datasets")


if __name__ == "__main__":
    app()
