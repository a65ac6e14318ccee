"""``lorapipe`` entry point: one Typer app with a sub-app per area, each imported when it runs.

Why lazy: one command runs per process, and importing every sub-app (httpx, sqlalchemy, alembic, the
job store...) cost about a second before ``lorapipe datasets inspect`` began. The root group knows the
names below and imports a sub-app's module the first time click asks for that command; listing all
commands (``lorapipe --help``, shell completion) imports them all, as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

#: Command name -> (module, attribute, kind), in the order ``lorapipe --help`` lists them (Typer puts
#: plain commands before sub-apps). ``kind`` is ``command`` for a function, ``group`` for a sub-app.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("lorapipe.cli.serve", "serve", "command"),
    "worker-loop": ("lorapipe.cli.serve", "worker_loop", "command"),
    "train": ("lorapipe.cli.train", "train", "command"),
    "demo": ("lorapipe.cli.demo", "demo", "command"),
    "datasets": ("lorapipe.cli.datasets", "app", "group"),
    "estimate": ("lorapipe.cli.estimate", "app", "group"),
    "jobs": ("lorapipe.cli.jobs", "app", "group"),
    "users": ("lorapipe.cli.users", "users_app", "group"),
    "keys": ("lorapipe.cli.users", "keys_app", "group"),
    "costs": ("lorapipe.cli.costs", "app", "group"),
    "adapters": ("lorapipe.cli.adapters", "app", "group"),
    "db": ("lorapipe.cli.db", "app", "group"),
    "models": ("lorapipe.cli.models", "app", "group"),
    "runpod": ("lorapipe.cli.runpod", "app", "group"),
}


def load_command(name: str) -> TyperCommand | TyperGroup:
    """The click command of ``name``, built as ``app.command(name)`` / ``app.add_typer(sub, name=name)``
    on the root app would build it (the same options, help and settings)."""
    module, attribute, kind = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if kind == "group":
        holder.add_typer(target, name=name)
        return typer.main.get_group_from_info(
            holder.registered_groups[0],
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
            suggest_commands=app.suggest_commands,
        )
    holder.command(name)(target)
    command = typer.main.get_command_from_info(
        holder.registered_commands[0],
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )
    assert isinstance(command, TyperCommand)
    return command


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: every name is known, a command is built on first lookup."""

    def __init__(self) -> None:
        self.loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self.loaded[name] = load_command(name)
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        raise TypeError("lorapipe's commands are fixed")

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self.loaded if n not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(n not in COMMANDS for n in self.loaded)


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are imported when first looked up (see the module docstring)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: looking one up imports its module


def _root() -> None:
    """The root group's callback: nothing to do before a command (Typer needs one to build a group
    whose commands it does not know)."""


app = typer.Typer(
    name="lorapipe",
    help="LoRA fine-tuning pipeline: datasets, estimates, training jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
    callback=_root,
)


if __name__ == "__main__":
    app()
