"""A hub that accepts connections and never answers fails the download in seconds, with an error that
names the endpoint and is retried (kind capacity), instead of holding the job's slot for good.

The resolve runs in a child process: huggingface_hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` when
it is imported, and the child is where the engine does it too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHILD = """
import json, sys, time
from pathlib import Path
from lorapipe.errors import LorapipeError
from lorapipe.models.sources import resolve_model
from lorapipe.settings import Settings
import huggingface_hub  # imported before the clock starts: the timing is of the network wait alone

started = time.monotonic()
try:
    resolve_model("someone/some-model", Settings(data_dir=Path(sys.argv[1])))
    print(json.dumps({"error": None}))
except LorapipeError as exc:
    print(json.dumps({"error": exc.to_dict(), "seconds": time.monotonic() - started}))
"""


@pytest.fixture
def silent_hub() -> Iterator[str]:
    """A loopback TCP server that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


def resolve_against(hub: str, tmp_path: Path, **settings: str) -> tuple[dict[str, object], float]:
    env = {**os.environ, "HF_ENDPOINT": hub, "HF_HUB_OFFLINE": "0", **settings}
    env.pop("TRANSFORMERS_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # the bug this catches hung here for good
        check=False,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["error"] is not None, "resolving a model from a silent hub cannot succeed"
    return answer["error"], float(answer["seconds"])


def test_a_silent_hub_fails_within_the_request_timeout(silent_hub: str, tmp_path: Path) -> None:
    error, seconds = resolve_against(
        silent_hub, tmp_path, LORAPIPE_HUB_TIMEOUT_S="2", LORAPIPE_HUB_STALL_S="600"
    )
    assert seconds < 2 * 2 + 5, seconds  # two requests (the library's registry, the model) + slack
    assert error["code"] == "model_download_failed" and error["kind"] == "capacity"
    assert f"could not download someone/some-model from the hub at {silent_hub}" in str(error["message"])
    assert "ReadTimeout" in str(error["message"]) and "HF_ENDPOINT" in str(error["hint"])


def test_a_download_without_progress_fails_at_the_stall_limit(silent_hub: str, tmp_path: Path) -> None:
    error, seconds = resolve_against(
        silent_hub, tmp_path, LORAPIPE_HUB_TIMEOUT_S="600", LORAPIPE_HUB_STALL_S="3"
    )
    assert 3 <= seconds < 3 + 5, seconds
    assert error["code"] == "model_download_failed" and error["kind"] == "capacity"
    assert f"from the hub at {silent_hub} made no progress for 3 s" in str(error["message"])
