"""``lorapipe models pull`` against a hub on loopback (``fake_hub``): the real huggingface_hub client,
the real CLI, the tiny Qwen3 model's ``save_pretrained`` files as the repo. The CLI runs as a child
process because huggingface_hub reads ``HF_ENDPOINT`` when it is imported.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import COMMIT, REPO, WEIGHTS, FakeHub, serve
from typer.testing import CliRunner

from lorapipe.cli.main import app
from lorapipe.models.sources import load_model
from lorapipe.models.tiny import TINY_QWEN3, tiny_model_dir
from lorapipe.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN_ENV = "LP_TEST_HUB_TOKEN"


@pytest.fixture(scope="module")
def model_files(model_settings: Settings) -> dict[str, bytes]:
    """The tiny Qwen3 model's save_pretrained files, as the hub repo serves them."""
    folder = tiny_model_dir(TINY_QWEN3, model_settings)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def hub(model_files: dict[str, bytes]) -> Iterator[FakeHub]:
    with serve(model_files) as state:
        yield state


def pull(hub: FakeHub, dest: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``lorapipe models pull`` in a child process whose hub is ``hub``."""
    child_env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_OFFLINE": "0",
        "LORAPIPE_DATA_DIR": str(dest.parent / "data"),
        **env,
    }
    child_env.pop("HF_TOKEN", None)
    command = [sys.executable, "-m", "lorapipe.cli.main", "models", "pull", REPO, "--to", str(dest), *args]
    return subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=90, check=False)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_pulled_model_is_what_the_engine_loads_from_that_cache(
    hub: FakeHub, model_files: dict[str, bytes], model_settings: Settings, tmp_path: Path
) -> None:
    import torch

    hub.token = "test-token-7f3a"
    dest = tmp_path / "models"
    done = pull(hub, dest, "--token-env", TOKEN_ENV, **{TOKEN_ENV: hub.token})
    assert done.returncode == 0, done.stderr
    assert f"at commit {COMMIT}" in done.stdout
    assert f"LORAPIPE_WORKER_MODEL_CACHE_DIR={dest.resolve()}\n" in done.stdout
    assert hub.token not in done.stdout + done.stderr
    snapshot = dest / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    for name, data in model_files.items():
        assert sha256_file(snapshot / name) == hashlib.sha256(data).hexdigest(), name
    # Every byte of the weights crossed the wire once, over the CDN redirect without the token.
    assert sum(r.body_bytes for r in hub.served("/cdn/")) == len(model_files[WEIGHTS])
    assert not any(r.auth for r in hub.served("/cdn/"))

    requests_before = len(hub.log)
    settings = Settings(data_dir=tmp_path / "engine", model_cache_dir=dest)
    model = load_model(REPO, settings, dtype="float32")
    assert len(hub.log) == requests_before  # loaded from the cache, the hub not asked
    source = load_model(TINY_QWEN3, model_settings, dtype="float32")
    for (name, pulled), (_, original) in zip(
        model.state_dict().items(), source.state_dict().items(), strict=True
    ):
        assert torch.equal(pulled, original), name


def test_an_interrupted_pull_continues_from_the_bytes_on_disk(
    hub: FakeHub, model_files: dict[str, bytes], tmp_path: Path
) -> None:
    weights = model_files[WEIGHTS]
    dest = tmp_path / "models"
    hub.cut_weights_once = True
    first = pull(hub, dest)
    assert first.returncode == 2, first.stdout + first.stderr
    assert "run the same command again to continue" in first.stderr
    blobs = dest / "hub" / f"models--{REPO.replace('/', '--')}" / "blobs"
    partial = blobs / f"{hashlib.sha256(weights).hexdigest()}.incomplete"
    kept = partial.stat().st_size
    assert 0 < kept < len(weights)

    hub.weights_down = False
    served_before = len(hub.served("/cdn/"))
    second = pull(hub, dest)
    assert second.returncode == 0, second.stderr
    resumed = [r for r in hub.served("/cdn/")[served_before:] if r.method == "GET"]
    assert [r.range for r in resumed] == [f"bytes={kept}-"]
    assert resumed[0].body_bytes == len(weights) - kept
    assert sum(r.body_bytes for r in hub.served("/cdn/")) < 2 * len(weights)
    snapshot = blobs.parent / "snapshots" / COMMIT
    assert sha256_file(snapshot / WEIGHTS) == hashlib.sha256(weights).hexdigest()
    assert not partial.exists()


def test_a_silent_hub_ends_the_pull_at_the_stall_limit(hub: FakeHub, tmp_path: Path) -> None:
    hub.stall_weights = True
    started = time.monotonic()
    done = pull(hub, tmp_path / "models", LORAPIPE_HUB_STALL_S="2", LORAPIPE_HUB_TIMEOUT_S="600")
    seconds = time.monotonic() - started
    assert done.returncode == 2
    assert f"pulling {REPO} from the hub at {hub.endpoint} made no progress for 2 s" in done.stderr
    assert seconds < 60, seconds  # the 600 s read timeout would still be waiting


def test_a_gated_model_names_the_token_variable(hub: FakeHub, tmp_path: Path) -> None:
    hub.gated = True
    done = pull(hub, tmp_path / "models", "--token-env", "MY_GATED_TOKEN")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert f"{REPO} is gated" in message and "set the environment variable MY_GATED_TOKEN" in message


def test_too_little_disk_space_is_refused_before_any_download(hub: FakeHub, tmp_path: Path) -> None:
    hub.listed_weights_size = 1 << 60  # an exabyte: no test disk has it
    done = pull(hub, tmp_path / "models")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "[invalid_config] --to" in message and "GB more" in message
    assert not hub.served(f"/{REPO}/resolve/") and not hub.served("/cdn/")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["not a repo", "--to", "{tmp}/m"], "HF_ID 'not a repo' is not a hub model id"),
        (["a/b@main", "--to", "{tmp}/m"], "a revision goes in --revision"),
        ([REPO, "--to", "{tmp}/file"], "is a file; it must be a folder"),
        ([REPO, "--to", "{tmp}/m", "--token-env", "hf_abcdefghijklmnopqrstuvwxyz0123"], "--token-env takes"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(args: list[str], expected: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    argv = ["models", "pull", *(a.format(tmp=tmp_path) for a in args)]
    result = CliRunner().invoke(app, argv, env={"LORAPIPE_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
