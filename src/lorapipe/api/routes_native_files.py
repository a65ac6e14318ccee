"""Streaming an adapter's files: one file, or all of them as a zip written on the fly.

Files are read from the adapter's ``location`` (a local folder, or any fsspec URL such as
``s3://bucket/adapters/x``) in 1 MiB chunks; the zip is produced while it is sent (no temporary
file, memory bounded by one chunk plus zip's own buffers).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import fsspec
from fastapi.responses import StreamingResponse

from lorapipe.db.jobs import Adapter
from lorapipe.errors import NotFoundError, ObjectNotFoundError

CHUNK_BYTES = 1024 * 1024
MANIFEST = "manifest.json"


def adapter_files(row: Adapter) -> list[dict[str, Any]]:
    """``{path, bytes, sha256}`` of every downloadable file, the manifest last."""
    files = (row.manifest or {}).get("files") or []
    listed = [
        {"path": f["path"], "bytes": f.get("size", f.get("bytes")), "sha256": f.get("sha256")}
        for f in files
        if isinstance(f, dict) and isinstance(f.get("path"), str)
    ]
    return [*listed, {"path": MANIFEST, "bytes": None, "sha256": None}]


def _open(row: Adapter, path: str) -> Any:
    fs, root = fsspec.core.url_to_fs(row.location)
    try:
        return fs.open(f"{root.rstrip('/')}/{path}", "rb")
    except FileNotFoundError:
        raise ObjectNotFoundError(
            f"adapter {row.id}: file {path} is missing from its storage", param="path"
        ) from None


def _chunks(row: Adapter, path: str) -> Iterator[bytes]:
    with _open(row, path) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}


def stream_file(row: Adapter, path: str) -> StreamingResponse:
    """One listed file; any other path is a 404 (so nothing outside the adapter is reachable)."""
    if path not in {f["path"] for f in adapter_files(row)}:
        raise NotFoundError(f"adapter {row.id} has no file {path!r}", param="path")
    # Open before answering, so a missing file is an error status rather than a cut-off body.
    _open(row, path).close()
    media = "application/json" if path.endswith(".json") else "application/octet-stream"
    return StreamingResponse(
        _chunks(row, path), media_type=media, headers=_attachment(path.rsplit("/", 1)[-1])
    )


class _Pipe(io.RawIOBase):
    """A write-only, unseekable sink whose bytes are taken out between zip writes."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def _zip_chunks(row: Adapter) -> Iterator[bytes]:
    pipe = _Pipe()
    # An unseekable sink makes zipfile write data descriptors instead of seeking back.
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for entry in adapter_files(row):
            with archive.open(entry["path"], "w", force_zip64=True) as member:
                for chunk in _chunks(row, entry["path"]):
                    member.write(chunk)
                    if len(pipe.buffer) >= CHUNK_BYTES:
                        yield pipe.take()
            yield pipe.take()
    yield pipe.take()


def stream_zip(row: Adapter) -> StreamingResponse:
    """Every listed file and the manifest in ``<adapter name>.zip``."""
    for entry in adapter_files(row):
        _open(row, entry["path"]).close()
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in row.name)
    return StreamingResponse(
        _zip_chunks(row), media_type="application/zip", headers=_attachment(f"{safe}.zip")
    )
