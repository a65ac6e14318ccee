"""``lorapipe db``: the database schema (Alembic migrations), straight on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Database schema.", no_args_is_help=True)
out = Console()


@app.command("upgrade")
def upgrade_database(
    revision: Annotated[str, typer.Option(help="Target revision (default: the newest).")] = "head",
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="SQLAlchemy URL (default: LORAPIPE_DATABASE_URL or the data dir's SQLite)."
        ),
    ] = None,
) -> None:
    """Migrate the database to the newest schema (safe to run again; the service also runs it at start)."""
    from lorapipe.db.migrate import current_revision, upgrade
    from lorapipe.settings import get_settings

    target = url or get_settings().resolved_database_url
    before = current_revision(target)
    upgrade(target, revision)
    after = current_revision(target)
    shown = target.split("@")[-1]  # never print a password from the URL
    if before == after:
        out.print(f"{escape(shown)}: already at {after}")
    else:
        out.print(f"{escape(shown)}: {before or 'empty'} -> {after}")
