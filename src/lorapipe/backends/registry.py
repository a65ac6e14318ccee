"""The explicit list of backends: name -> factory. A job names its backend; unknown names are a
user error at creation time, not a crash in the reconciler."""

from __future__ import annotations

from collections.abc import Callable

from lorapipe.backends.base import Backend
from lorapipe.backends.local import LocalBackend
from lorapipe.errors import ConfigError
from lorapipe.settings import Settings

BackendFactory = Callable[[Settings], Backend]

BACKENDS: dict[str, BackendFactory] = {
    "local": lambda settings: LocalBackend(settings.data_dir / "runs"),
}


def check_backend_name(name: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(
            f"unknown backend {name!r}", param="backend", hint=f"choose one of: {', '.join(sorted(BACKENDS))}"
        )
    return name


def build_backends(settings: Settings) -> dict[str, Backend]:
    """One instance of every backend, configured from ``settings``."""
    return {name: factory(settings) for name, factory in BACKENDS.items()}
