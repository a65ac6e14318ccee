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


@pytest.fixture(params=["local", "runpod-serverless"])
def training_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Service, str]]:
    """A live service that trains on the named backend; for RunPod, with the fake cloud, the real worker
    and a moto S3 store (tests/support/runpod_stack.py)."""
    if request.param == "local":
        yield request.getfixturevalue("service"), "local"
        return
    from runpod_stack import runpod_stack

    with runpod_stack(tmp_path / "rp", request.getfixturevalue("s3_endpoint")) as stack:
        stack.launch_worker()
        env = stack.service_env(tmp_path / "data")
        subprocess.run([*LORAPIPE, "users", "create", "ci"], env=env, check=True, capture_output=True)
        made = subprocess.run(
            [*LORAPIPE, "keys", "create", "--user", "ci"], env=env, check=True, capture_output=True
        )
        svc = Service(
            env=env, log_path=tmp_path / "serve.log", port=free_port(), key=made.stdout.decode().strip()
        )
        svc.start()
        try:
            yield svc, request.param
        finally:
            svc.stop()
