"""``lorapipe users`` and ``lorapipe keys``: accounts and API keys, straight on the database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorapipe.cli.jobs import open_database
from lorapipe.db import session_scope
from lorapipe.db.accounts import User
from lorapipe.errors import LorapipeError
from lorapipe.services import accounts

users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (shown once, stored hashed).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(exc: LorapipeError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{exc.code}] {exc}')}")
    return typer.Exit(2)


@users_app.command("create")
def create_user(name: Annotated[str, typer.Argument(help="Unique user name.")]) -> None:
    """Create a user; then give it a key with ``lorapipe keys create --user NAME``."""
    try:
        with session_scope(open_database()) as s:
            user = accounts.create_user(s, name)
            out.print(f"created user {user.name} ({user.id})")
    except LorapipeError as exc:
        raise _fail(exc) from None


@users_app.command("list")
def list_users() -> None:
    from sqlalchemy import select

    with session_scope(open_database()) as s:
        table = Table("id", "name", "created")
        for user in s.scalars(select(User).order_by(User.created_at)):
            table.add_row(user.id, user.name, user.created_at.isoformat(timespec="seconds"))
        out.print(table)


@keys_app.command("create")
def create_key(
    user: Annotated[str, typer.Option("--user", "-u", help="Name of the key's owner.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    try:
        with session_scope(open_database()) as s:
            row, secret = accounts.create_api_key(s, accounts.find_user(s, user), name)
    except LorapipeError as exc:
        raise _fail(exc) from None
    err.print(f"key {row.id} for {user}; copy it now, it is not shown again:")
    print(secret)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (key-...), not the secret.")],
) -> None:
    """Revoke a key; requests with it are refused from now on."""
    try:
        with session_scope(open_database()) as s:
            accounts.revoke_api_key(s, key_id)
    except LorapipeError as exc:
        raise _fail(exc) from None
    out.print(f"revoked {key_id}")
