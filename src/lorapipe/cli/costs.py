"""``lorapipe costs``: a user's cost lines per day and type (or as CSV), and the monthly budget.

Reads the configured database directly (the operator's view); the API serves the same figures per
caller under ``/api/costs`` and ``/api/budget``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorapipe.errors import LorapipeError

app = typer.Typer(help="Costs per day and type, CSV export, monthly budgets.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

User = Annotated[str, typer.Option("--user", "-u", help="Name of the user.")]
Start = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC), included.")]
End = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (UTC), included.")]


def _fail(exc: LorapipeError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{exc.code}] {exc}')}")
    return typer.Exit(1)


@app.command("show")
def show(
    user: User,
    start: Start = None,
    end: End = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print the lines as CSV instead.")] = False,
) -> None:
    """Totals per day and per type over a date range (default: this month so far)."""
    from lorapipe.cli.jobs import open_database
    from lorapipe.services.accounts import find_user
    from lorapipe.services.cost_reports import DateRange, list_costs, summarize, to_csv

    try:
        with open_database()() as s:
            days = DateRange.resolve(start.date() if start else None, end.date() if end else None)
            rows = list_costs(s, find_user(s, user).id, days)
    except LorapipeError as exc:
        raise _fail(exc) from exc
    if csv:
        typer.echo(to_csv(rows), nl=False)
        return
    summary = summarize(rows, days)
    table = Table(title=f"costs of {user}, {days.start} to {days.end} (UTC, both included)")
    for column in ("day", "lines", "GPU/compute s", "USD"):
        table.add_column(column, justify="right")
    for day, t in summary.by_day.items():
        if t.count:
            table.add_row(day, str(t.count), f"{t.seconds:,.0f}", f"{t.usd:.4f}")
    table.add_row(
        "total", str(summary.total.count), f"{summary.total.seconds:,.0f}", f"{summary.total.usd:.4f}"
    )
    out.print(table)
    for kind, t in sorted(summary.by_kind.items()):
        out.print(f"{kind}: ${t.usd:.4f} over {t.count} line(s)")


@app.command("budget")
def budget(
    user: User,
    set_usd: Annotated[float | None, typer.Option("--set", min=0, help="Monthly budget in USD.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the budget.")] = False,
) -> None:
    """Show, set or remove a user's monthly budget (notifications at 80 %, new jobs blocked at 100 %)."""
    from lorapipe.cli.jobs import open_database
    from lorapipe.db import session_scope
    from lorapipe.services import budgets
    from lorapipe.services.accounts import find_user

    try:
        with session_scope(open_database()) as s:
            owner = find_user(s, user).id
            if remove or set_usd is not None:
                budgets.set_budget(s, owner, None if remove else set_usd)
                budgets.notify_budget_thresholds(s, owner)
            amount = budgets.get_budget(s, owner)
            spent = budgets.month_spend(s, owner)
    except LorapipeError as exc:
        raise _fail(exc) from exc
    if amount is None:
        out.print(f"{user}: no monthly budget; ${spent:.2f} spent this month")
    else:
        share = f" ({spent / amount:.0%})" if amount else ""
        out.print(f"{user}: ${spent:.2f} of ${amount:.2f} spent this month{share}")
