"""Fixtures of the CLI tests: a live ``lorapipe serve`` (shared with the API tests) and the
environment that points the CLI at it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The live service helper lives with the API end-to-end tests; one implementation for both.
sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from cli_env import base_env
from live_service import LORAPIPE, Service, free_port


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """``lorapipe serve`` on a free loopback port with user ``ci`` and its key."""
    env = base_env(tmp_path / "service-data")
    subprocess.run([*LORAPIPE, "users", "create", "ci"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*LORAPIPE, "keys", "create", "--user", "ci"], env=env, check=True, capture_output=True
    )
    svc = Service(
        env=env, log_path=tmp_path / "serve.log", port=free_port(), key=made.stdout.decode().strip()
    )
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def client_env(tmp_path: Path, service: Service) -> dict[str, str]:
    """The CLI's environment: its own (empty) data dir, talking to ``service`` over HTTP."""
    return base_env(tmp_path / "client-data") | {
        "LORAPIPE_API_URL": service.base,
        "LORAPIPE_API_KEY": service.key,
    }
