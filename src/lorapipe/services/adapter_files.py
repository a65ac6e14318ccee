"""An adapter's files as downloads: one file, or all of them as a zip written on the fly.

Files are read from the adapter's ``location`` (any fsspec URL: ``file://``, ``s3://bucket/...``, a
local folder; opened with the configured store's options when it uses the store's protocol, see
:func:`~lorapipe.storage.storage_options_for`) in 1 MiB chunks; the zip is produced while it is sent (no temporary file, memory
bounded by one chunk plus zip's own buffers). Only the files the adapter's verified manifest lists
(and ``manifest.json``) can be read, so no path reaches outside it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import fsspec
from pydantic import BaseModel

from lorapipe.contract.artifacts import MANIFEST
from lorapipe.db.jobs import Adapter
from lorapipe.errors import NotFoundError, ObjectNotFoundError
from lorapipe.settings import Settings
from lorapipe.storage import storage_options_for

CHUNK_BYTES = 1024 * 1024


class AdapterFile(BaseModel):
    """One downloadable file of an adapter (the manifest's own size and digest are not listed)."""

    path: str
    bytes: int | None
    sha256: str | None


@dataclass(frozen=True)
class FileDownload:
    """Bytes to send as an attachment: a lazy chunk iterator, its file name and media type."""

    chunks: Iterator[bytes]
    filename: str
    media_type: str

    @property
    def content_disposition(self) -> str:
        """The ``Content-Disposition`` header value (RFC 6266, UTF-8 file name)."""
        return f"attachment; filename*=UTF-8''{quote(self.filename)}"


def adapter_files(row: Adapter) -> list[AdapterFile]:
    """Every downloadable file, as the manifest lists them, then the manifest itself."""
    files = (row.manifest or {}).get("files") or []
    listed = [
        AdapterFile(path=f["path"], bytes=f.get("size", f.get("bytes")), sha256=f.get("sha256"))
        for f in files
        if isinstance(f, dict) and isinstance(f.get("path"), str)
    ]
    return [*listed, AdapterFile(path=MANIFEST, bytes=None, sha256=None)]


@dataclass(frozen=True)
class _Source:
    """Where an adapter's files are: plain values, so a download outlives the database session."""

    adapter_id: str
    location: str
    storage_options: dict[str, Any]

    @classmethod
    def of(cls, row: Adapter, settings: Settings) -> _Source:
        return cls(row.id, row.location, storage_options_for(row.location, settings))


def _open(source: _Source, path: str) -> Any:
    fs, root = fsspec.core.url_to_fs(source.location, **source.storage_options)
    try:
        return fs.open(f"{root.rstrip('/')}/{path}", "rb")
    except FileNotFoundError:
        raise ObjectNotFoundError(
            f"adapter {source.adapter_id}: file {path} is missing from its storage", param="path"
        ) from None


def _chunks(source: _Source, path: str) -> Iterator[bytes]:
    with _open(source, path) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def file_download(row: Adapter, path: str, settings: Settings) -> FileDownload:
    """One listed file; any other path is :class:`NotFoundError` (nothing outside the adapter is
    reachable), a listed file missing from storage is :class:`ObjectNotFoundError`."""
    if path not in {f.path for f in adapter_files(row)}:
        raise NotFoundError(f"adapter {row.id} has no file {path!r}", param="path")
    source = _Source.of(row, settings)
    # Opened before answering, so a missing file is an error status rather than a cut-off body.
    _open(source, path).close()
    media = "application/json" if path.endswith(".json") else "application/octet-stream"
    return FileDownload(_chunks(source, path), path.rsplit("/", 1)[-1], media)


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


def _zip_chunks(source: _Source, paths: list[str]) -> Iterator[bytes]:
    pipe = _Pipe()
    # An unseekable sink makes zipfile write data descriptors instead of seeking back.
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in paths:
            with archive.open(path, "w", force_zip64=True) as member:
                for chunk in _chunks(source, path):
                    member.write(chunk)
                    if len(pipe.buffer) >= CHUNK_BYTES:
                        yield pipe.take()
            yield pipe.take()
    yield pipe.take()


def zip_download(row: Adapter, settings: Settings) -> FileDownload:
    """Every listed file and the manifest in ``<adapter name>.zip``."""
    source = _Source.of(row, settings)
    paths = [f.path for f in adapter_files(row)]
    for path in paths:
        _open(source, path).close()
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in row.name)
    return FileDownload(_zip_chunks(source, paths), f"{safe}.zip", "application/zip")
