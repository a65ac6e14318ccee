"""One hub file into a repo cache's ``blobs/``, continued across processes after an interruption.

The installed huggingface_hub downloads each file to a temporary name unique to its process and deletes
it when the download fails, so a pull that dies half way through a 16 GB weights file would start that
file again from zero. Here a file is fetched by huggingface_hub's own ``get_hf_file_metadata`` and
``http_get`` into ``blobs/<etag>.incomplete``, continued with a ``Range`` request from the bytes already
there, and checked against its etag (the sha256 of an LFS file, the git blob id of a small one) before
it gets the name ``blobs/<etag>`` that huggingface_hub's cache gives it.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lorapipe.errors import ModelDownloadError

WRITE_CHUNK_BYTES = 64 * 1024
"""Piece size in which downloaded bytes reach the disk. Bytes received but not yet written are lost to
the next pull; huggingface_hub gathers 10 MiB before each write, so a pull lowers that (for this
process) and an interruption costs at most this much."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")


def fetch_blob(
    repo_id: str, filename: str, commit: str, storage: Path, token: str | None, timeout_s: float
) -> None:
    """``blobs/<etag>`` of ``filename``, continued from its ``.incomplete`` bytes, checked, renamed."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, filename, revision=commit)
    meta = get_hf_file_metadata(url, token=token or False, timeout=timeout_s)
    if not meta.etag:
        raise ModelDownloadError(f"the hub gave no ETag for {filename} of {repo_id}", param="HF_ID")
    blob = storage / "blobs" / meta.etag
    if blob.exists():
        return
    blob.parent.mkdir(parents=True, exist_ok=True)
    part = blob.with_name(blob.name + ".incomplete")
    have = part.stat().st_size if part.exists() else 0
    if meta.size is not None and have > meta.size:
        have = 0  # not a prefix of this file: start it again
    headers: dict[str, Any] = build_hf_headers(token=token or False)
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # a signed CDN URL: the token stays with the hub
    with part.open("r+b" if part.exists() else "wb") as f:
        f.seek(have)
        f.truncate()
        http_get(
            meta.location,
            f,
            resume_size=have,
            headers=headers,
            expected_size=meta.size,
            displayed_filename=filename,
        )
    check_blob(part, meta.etag, filename)
    os.replace(part, blob)


def check_blob(part: Path, etag: str, filename: str) -> None:
    """Raise (and drop the bytes) when a finished download is not the file its etag names."""
    if _SHA256.fullmatch(etag):
        digest = hashlib.sha256()
    elif _GIT_SHA1.fullmatch(etag):
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(b"blob %d\0" % part.stat().st_size)
    else:
        return  # an etag that is no content hash: the size check of http_get is all there is
    with part.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != etag:
        part.unlink()
        raise ModelDownloadError(
            f"{filename} arrived with content hash {digest.hexdigest()}, the hub announced {etag}",
            param="HF_ID",
            hint="its bytes were dropped; run the same command again to download the file afresh",
        )
