"""Request bodies against a real ``lorapipe serve``: bodies streamed over a socket from generators,
the server's memory and the temporary files it holds read from /proc while they arrive.

An unauthenticated caller gets its 401 before any of its body is read (memory stays flat, nothing is
spooled); an authenticated upload stops at the upload limit, with nothing stored beyond it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_service import LORAPIPE, Service, free_port
from streamed_request import MIB, ProcessWatch, json_body, multipart_body, stream_request

pytestmark = pytest.mark.e2e

# Over the 1 MB a multipart parser keeps in memory before spooling to disk, so spooling would show.
UPLOAD_LIMIT = 4 * MIB
BOUNDARY = "lorapipe-test-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


@dataclass
class Served:
    service: Service
    #: Where the server may put upload bytes: its TMPDIR and its object store.
    spool_folders: tuple[Path, Path]

    @property
    def pid(self) -> int:
        assert self.service.proc is not None
        return self.service.proc.pid

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.service.key}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``lorapipe serve`` with a 4 MiB upload limit, its own TMPDIR, one user and its key."""
    root = tmp_path_factory.mktemp("body-limits")
    (root / "tmp").mkdir()
    env = {
        **os.environ,
        "LORAPIPE_DATA_DIR": str(root / "data"),
        "LORAPIPE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "TMPDIR": str(root / "tmp"),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("LORAPIPE_DATABASE_URL", None)
    subprocess.run([*LORAPIPE, "users", "create", "ci"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*LORAPIPE, "keys", "create", "--user", "ci"], env=env, check=True, capture_output=True
    )
    svc = Service(env=env, log_path=root / "serve.log", port=free_port(), key=made.stdout.decode().strip())
    svc.start()
    (root / "data" / "objects").mkdir(parents=True, exist_ok=True)
    try:
        served = Served(svc, (root / "tmp", root / "data" / "objects"))
        # Warm up the paths under test, so lazily imported modules do not count as growth.
        stream_request(svc.port, "/v1/fine_tuning/jobs", {}, json_body(0))
        stream_request(svc.port, "/v1/files", MULTIPART, multipart_body(BOUNDARY, 10))
        yield served
    finally:
        svc.stop()


def test_unauthenticated_200_mb_json_body_is_refused_unread(served: Served) -> None:
    with ProcessWatch(served.pid, served.spool_folders) as watch:
        result = stream_request(
            served.service.port,
            "/v1/fine_tuning/jobs",
            {"content-type": "application/json"},
            json_body(200 * MIB),
        )
    assert result.status == 401, result.body
    assert result.body["error"]["type"] == "authentication_error"
    assert watch.rss_growth < 20 * MIB, f"server RSS grew {watch.rss_growth / MIB:.0f} MiB"

    wrong_key = {"content-type": "application/json", "authorization": "Bearer lp-not-a-key"}
    with ProcessWatch(served.pid, served.spool_folders) as watch:
        result = stream_request(served.service.port, "/v1/fine_tuning/jobs", wrong_key, json_body(50 * MIB))
    assert result.status == 401, result.body
    assert watch.rss_growth < 20 * MIB, f"server RSS grew {watch.rss_growth / MIB:.0f} MiB"


def test_unauthenticated_300_mb_upload_spools_nothing(served: Served) -> None:
    with ProcessWatch(served.pid, served.spool_folders) as watch:
        result = stream_request(
            served.service.port, "/v1/files", MULTIPART, multipart_body(BOUNDARY, 300 * MIB)
        )
    assert result.status == 401, result.body
    assert watch.file_growth == 0, f"{watch.file_growth} bytes spooled for an unauthenticated upload"
    assert watch.rss_growth < 20 * MIB, f"server RSS grew {watch.rss_growth / MIB:.0f} MiB"


def test_authenticated_upload_over_the_limit_stops_at_the_limit(served: Served) -> None:
    headers = {**MULTIPART, **served.auth}
    with ProcessWatch(served.pid, served.spool_folders) as watch:
        result = stream_request(served.service.port, "/v1/files", headers, multipart_body(BOUNDARY, 50 * MIB))
    assert result.status == 413, result.body
    assert (result.body["error"]["code"], result.body["error"]["param"]) == ("file_too_large", "file")
    assert watch.file_growth <= UPLOAD_LIMIT, (
        f"{watch.file_growth} bytes spooled; the limit is {UPLOAD_LIMIT}"
    )
    assert watch.rss_growth < 20 * MIB, f"server RSS grew {watch.rss_growth / MIB:.0f} MiB"
    # Nothing of the refused upload stays: no file, no dataset.
    assert not [p for p in served.spool_folders[1].rglob("*") if p.is_file()]


def test_declared_length_over_the_limit_is_answered_before_any_body(served: Served) -> None:
    for path, headers in (
        ("/v1/files", {**MULTIPART, **served.auth}),
        ("/api/datasets", {"content-type": "application/octet-stream", **served.auth}),
        ("/v1/fine_tuning/jobs", {"content-type": "application/json", **served.auth}),
    ):
        declared = {**headers, "content-length": str(50 * MIB)}
        # No body at all: a server that waited to read it would never answer.
        result = stream_request(served.service.port, path, declared, [], chunked=False, timeout_s=15)
        assert result.status == 413, (path, result.body)
        assert result.body["error"]["code"] == "file_too_large", path


def test_upload_within_the_limit_streams_into_the_store(served: Served) -> None:
    headers = {**MULTIPART, **served.auth}
    size = 3 * MIB
    with ProcessWatch(served.pid, served.spool_folders[:1]) as tmpdir:
        result = stream_request(served.service.port, "/v1/files", headers, multipart_body(BOUNDARY, size))
    assert result.status == 200, result.body
    assert result.body["object"] == "file" and result.body["bytes"] == size
    assert tmpdir.file_growth == 0, f"{tmpdir.file_growth} bytes spooled to a temporary file first"
