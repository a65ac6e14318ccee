"""Downloading a hub snapshot that cannot hang: bounded requests, progress, and a no-progress limit.

huggingface_hub's HTTP client has no timeout, and some of its calls (``repo_info``, ``list_repo_tree``)
pass ``timeout=None`` explicitly, so a hub that accepts a connection and never answers held a download
(and the job's slot) forever. Here every request of the process's hub client gets connect and read
limits at the transport, whatever the call asked for, and the snapshot downloads in a worker thread
that the caller gives up on when no byte arrived for ``stall_s`` (the engine then exits, ending it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lorapipe.errors import ModelDownloadError

POLL_S = 1.0
"""How often the waiting thread measures the download, in seconds."""

T = TypeVar("T")

_installed: tuple[float, float] | None = None
_install_lock = threading.Lock()


def bound_hub_requests(connect_s: float, read_s: float) -> None:
    """Make every later request of huggingface_hub (in this process) give up after ``connect_s`` to
    connect and ``read_s`` without a byte. Idempotent."""
    global _installed
    with _install_lock:
        if _installed == (connect_s, read_s):
            return
        import httpx2
        from huggingface_hub import set_client_factory

        limits = {"connect": connect_s, "read": read_s, "write": read_s, "pool": connect_s}

        class BoundedTransport(httpx2.HTTPTransport):
            def handle_request(self, request: httpx2.Request) -> httpx2.Response:
                asked = request.extensions.get("timeout") or {}
                request.extensions["timeout"] = {
                    k: limit if asked.get(k) is None else min(asked[k], limit) for k, limit in limits.items()
                }
                return super().handle_request(request)

        set_client_factory(
            lambda: httpx2.Client(
                transport=BoundedTransport(),
                follow_redirects=True,
                timeout=httpx2.Timeout(read_s, connect=connect_s),
            )
        )
        _installed = (connect_s, read_s)


def download_snapshot(
    repo_id: str,
    *,
    cache_dir: Path,
    revision: str | None,
    allow_patterns: list[str],
    endpoint: str | None,
    timeout_s: float,
    stall_s: float,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """``snapshot_download`` of ``repo_id`` into ``cache_dir`` with every request bounded by ``timeout_s``;
    :class:`ModelDownloadError` when no byte arrived for ``stall_s``. ``progress(bytes so far)`` is called
    about every second from the calling thread (it may raise to stop waiting, e.g. on cancel)."""
    from huggingface_hub import snapshot_download

    bound_hub_requests(timeout_s, timeout_s)
    folder = cache_dir / ("models--" + repo_id.replace("/", "--"))
    path = run_watched(
        lambda: snapshot_download(
            repo_id,
            cache_dir=cache_dir,
            revision=revision,
            allow_patterns=allow_patterns,
            endpoint=endpoint,
            etag_timeout=timeout_s,
        ),
        folder=folder,
        what=f"downloading {repo_id} from the hub at {endpoint or _default_endpoint()}",
        stall_s=stall_s,
        progress=progress,
    )
    return Path(path)


def run_watched(
    work: Callable[[], T],
    *,
    folder: Path,
    what: str,
    stall_s: float,
    progress: Callable[[int], None] | None = None,
) -> T:
    """``work()`` in a worker thread, given up on with :class:`ModelDownloadError` when the blobs under
    repo cache ``folder`` did not grow for ``stall_s`` seconds (``what`` opens the message). A thread
    blocked in a socket cannot be interrupted, so it is left behind (daemon) and ends with the process."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"hub-download {folder.name}", daemon=True)
    worker.start()
    seen, changed = -1, time.monotonic()
    while True:
        worker.join(POLL_S)
        if not worker.is_alive():
            break
        size = downloaded_bytes(folder)
        now = time.monotonic()
        if size != seen:
            seen, changed = size, now
        elif now - changed > stall_s:
            raise ModelDownloadError(
                f"{what} made no progress for {stall_s:.0f} s ({max(size, 0) / 1e9:.2f} GB received)",
                param="model",
                hint="the hub or the network is stalled; the attempt is retried, or put the model in the "
                "model cache (LORAPIPE_HUB_STALL_S sets this limit)",
            )
        if progress is not None:
            progress(max(size, 0))
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def downloaded_bytes(folder: Path) -> int:
    """Bytes written under a repo's cache folder (finished and ``.incomplete`` blobs), by allocated
    blocks where the platform reports them, so a preallocated file counts only what arrived."""
    total = 0
    blobs = folder / "blobs"
    if not blobs.is_dir():
        return 0
    for p in blobs.iterdir():
        try:
            st = p.stat()
        except OSError:  # renamed from .incomplete while we looked
            continue
        blocks = getattr(st, "st_blocks", None)
        total += min(st.st_size, blocks * 512) if blocks is not None else st.st_size
    return total


def _default_endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)
