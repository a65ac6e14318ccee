"""``lorapipe`` entry point: one Typer app with a sub-app per area.

Sub-apps import their heavy dependencies lazily, so ``lorapipe --help`` stays fast.
"""

from __future__ import annotations

import typer

from lorapipe.cli.adapters import app as adapters_app
from lorapipe.cli.costs import app as costs_app
from lorapipe.cli.datasets import app as datasets_app
from lorapipe.cli.db import app as db_app
from lorapipe.cli.demo import demo
from lorapipe.cli.estimate import app as estimate_app
from lorapipe.cli.jobs import app as jobs_app
from lorapipe.cli.models import app as models_app
from lorapipe.cli.runpod import app as runpod_app
from lorapipe.cli.serve import serve, worker_loop
from lorapipe.cli.train import train
from lorapipe.cli.users import keys_app, users_app

app = typer.Typer(
    name="lorapipe",
    help="LoRA fine-tuning pipeline: datasets, estimates, training jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(estimate_app, name="estimate")
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(costs_app, name="costs")
app.command("serve")(serve)
app.command("worker-loop")(worker_loop)
app.command("train")(train)
app.command("demo")(demo)
app.add_typer(adapters_app, name="adapters")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(runpod_app, name="runpod")


if __name__ == "__main__":
    app()
