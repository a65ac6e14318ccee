"""``lorapipe users`` and ``lorapipe keys``: accounts and API keys, straight on the database."""

from __future__ import annotations

import datetime as dt
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


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "–"


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
        table = Table("id", "name", "created", "disabled")
        for user in s.scalars(select(User).order_by(User.created_at)):
            table.add_row(user.id, user.name, _when(user.created_at), _when(user.disabled_at))
        out.print(table)


@users_app.command("disable")
def disable_user(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Disable a user: every request with any of its keys is refused from now on."""
    try:
        with session_scope(open_database()) as s:
            user = accounts.disable_user(s, name)
            out.print(f"disabled user {user.name} ({user.id})")
    except LorapipeError as exc:
        raise _fail(exc) from None


@keys_app.command("list")
def list_keys(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's keys.")] = None,
) -> None:
    """List API keys: id, owner, prefix, label, created, last used, revoked (never the secret)."""
    try:
        with session_scope(open_database()) as s:
            rows = accounts.list_api_keys(s, accounts.find_user(s, user) if user else None)
            table = Table("id", "user", "prefix", "name", "created", "last used", "revoked")
            for key, owner in rows:
                table.add_row(
                    key.id,
                    owner.name,
                    key.display_prefix + "…",
                    key.name or "–",
                    _when(key.created_at),
                    _when(key.last_used_at),
                    _when(key.revoked_at),
                )
            out.print(table)
    except LorapipeError as exc:
        raise _fail(exc) from None


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
