"""The worker image's recipe agrees with the package: every library pinned in pyproject.toml is locked at
the same version (with a hash) in docker/worker/requirements.lock, the lock holds PyPI builds only (the
CUDA torch, not a local CPU wheel), and the Dockerfile installs exactly the lock and starts the worker.
Docker cannot run on these machines; the image's entrypoint itself is exercised under the runpod SDK's
local server in tests/e2e/worker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "docker/worker/requirements.lock"
DOCKERFILE = ROOT / "docker/worker/Dockerfile"
EXTRAS = ("training", "runpod", "gpu", "s3")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+) --hash=sha256:[0-9a-f]{64}", line)
            assert match, f"not a pinned, hashed line: {line!r}"
            pins[_norm(match[1])] = match[2]
    return pins


def test_every_pin_of_the_package_is_locked_at_the_same_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in EXTRAS:
        wanted += project["optional-dependencies"][extra]
    lock = locked()
    for requirement in wanted:
        name, _, version = requirement.partition("==")
        name = name.split("[")[0]
        assert lock.get(_norm(name)) == version, f"{name}: pyproject {version}, lock {lock.get(_norm(name))}"


def test_the_lock_holds_pypi_builds_only() -> None:
    lock = locked()
    assert not [f"{n}=={v}" for n, v in lock.items() if "+" in v], "a local build (e.g. torch+cpu) leaked in"
    assert lock["torch"] == "2.13.0"
    assert any(name.startswith("nvidia-") for name in lock), "the CUDA runtime libraries are missing"


def test_the_dockerfile_installs_the_lock_and_starts_the_worker() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-\S+", base[1]), "pin the base image's Python version"
    assert "--require-hashes" in text and "requirements.lock" in text
    assert re.search(r'^ENTRYPOINT \["python", "-m", "lorapipe.worker"\]$', text, re.M)


def test_the_entrypoint_module_imports_without_starting() -> None:
    import lorapipe.worker.__main__ as entry

    assert callable(entry.main)
