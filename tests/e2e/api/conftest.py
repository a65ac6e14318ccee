"""The ``service`` fixture: a live ``lorapipe serve`` with one user and its API key."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_service import LORAPIPE, Service, free_port


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    env.pop("LORAPIPE_DATABASE_URL", None)
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
