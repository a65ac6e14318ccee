"""The object store: datasets, checkpoints and adapters as keyed byte streams over fsspec.

``file://`` (a local folder, the default) and any fsspec URL with its driver installed, ``s3://``
via s3fs in production (S3, R2, Supabase Storage, RunPod volumes). Keys are relative, ``/``-separated
and validated (:func:`validate_key`), so a key can never escape the store's root.

Writes stream in chunks and are atomic: bytes go to a temporary object under ``.incoming/`` and are
moved into place only once complete, so a reader never sees half an object and a failed or
too-large upload leaves nothing behind. The sha256 and size are computed while writing.

Length: one class over fsspec with the few helpers its atomic writes need; split, the write path
would lose its one reading order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Literal, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from lorapipe.errors import ObjectNotFoundError, StorageError, StorageKeyError, TooLargeError
from lorapipe.settings import Settings

CHUNK_BYTES = 1024 * 1024
"""Bytes read and written per step when streaming (1 MiB)."""
REMOTE_PART_BYTES = 8 * 1024 * 1024
"""Buffer per remote read or write, in bytes: the part size of an S3 multipart upload (minimum 5 MiB)."""
INCOMING_PREFIX = ".incoming"
"""Where partial writes live until they are complete. Keys may not start with a dot, so no key can
reach it."""
MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_=+@,~-][A-Za-z0-9._=+@,~-]*")

ByteSource = bytes | BinaryIO | IO[bytes] | Iterable[bytes]
"""What :meth:`ObjectStore.put` accepts: bytes, a binary file object, or an iterator of chunks."""


def validate_key(key: str) -> str:
    """Return ``key`` when it is a safe relative object key, else raise :class:`StorageKeyError`.

    A key is ``/``-separated segments of letters, digits and ``._=+@,~-``; it is not absolute, has no
    backslash, no empty segment, and no segment starting with a dot (so no ``.`` or ``..``).
    """
    problem = _key_problem(key)
    if problem:
        raise StorageKeyError(f"invalid object key {key!r}: {problem}", param="key")
    return key


def _key_problem(key: str) -> str | None:
    if not isinstance(key, str) or not key:
        return "empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"longer than {MAX_KEY_LENGTH} characters"
    if "\\" in key:
        return "contains a backslash"
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        return "absolute path"
    for segment in key.split("/"):
        if not segment:
            return "empty segment (leading, trailing or double '/')"
        if segment.startswith("."):
            return f"segment {segment!r} starts with a dot ('.', '..' and hidden names are not allowed)"
        if not _SEGMENT.fullmatch(segment):
            return f"segment {segment!r} has characters other than letters, digits and ._=+@,~-"
    return None


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What :meth:`ObjectStore.put` wrote."""

    key: str
    size: int
    """Bytes written."""
    sha256: str
    """Hex digest of the bytes written."""


class ObjectStore:
    """Keyed byte storage under one fsspec root URL (``file:///data/objects``, ``s3://bucket/prefix``)."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url.rstrip("/")
        fs, root = fsspec.core.url_to_fs(self.url, **storage_options)
        self.fs: fsspec.AbstractFileSystem = fs
        self.root: str = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)
        if self._local:
            os.makedirs(self.root, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """The store the settings name (``LORAPIPE_STORAGE_URL``, default ``<data_dir>/objects``)."""
        return cls(settings.resolved_storage_url, **settings.storage_options)

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def url_for(self, key: str) -> str:
        """The full fsspec URL of ``key`` (what a worker with the same credentials opens)."""
        return f"{self.url}/{validate_key(key)}"

    def key_of(self, url: str) -> str:
        """The key of a URL that :meth:`url_for` made; :class:`StorageKeyError` for one outside this store."""
        prefix = self.url + "/"
        if not url.startswith(prefix):
            raise StorageKeyError("the location is not in this service's object store", param="location")
        return validate_key(url[len(prefix) :])

    def presigned_url(self, key: str, *, expires_s: int = 3600, method: Literal["get", "put"] = "get") -> str:
        """A short-lived HTTPS URL that reads (``get``) or writes (``put``) ``key`` without credentials:
        what a remote worker receives instead of secrets. S3-compatible stores only."""
        path = self._path(validate_key(key))
        sign = getattr(self.fs, "url", None)
        if self._local or not callable(sign) or "s3" not in _protocols(self.fs):
            raise StorageError("the object store cannot sign URLs; remote workers need an s3:// store")
        url: str = sign(path, expires=expires_s, client_method=f"{method}_object")
        return url

    def put(self, key: str, source: ByteSource, *, max_bytes: int | None = None) -> StoredObject:
        """Store ``source`` at ``key``, replacing any object there, and return its size and sha256.

        Raises :class:`TooLargeError` as soon as more than ``max_bytes`` arrive; the object at
        ``key`` is then unchanged and no partial data remains.
        """
        validate_key(key)
        final = self._path(key)
        temp = self._path(f"{INCOMING_PREFIX}/{uuid.uuid4().hex}")
        if self._local:
            os.makedirs(os.path.dirname(temp), exist_ok=True)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            with _removed_on_error(lambda: os.remove(temp)):
                with open(temp, "wb") as out:
                    stored = _copy(source, out, key=key, max_bytes=max_bytes)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, final)  # atomic on one filesystem
            return stored
        out = self.fs.open(temp, "wb", block_size=REMOTE_PART_BYTES)
        try:
            stored = _copy(source, out, key=key, max_bytes=max_bytes)
            out.close()
        except BaseException:
            _abandon(out)
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(temp)
            raise
        with _removed_on_error(lambda: self.fs.rm(temp)):
            self.fs.mv(temp, final)
        return stored

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        path = self._path(validate_key(key))
        # S3 deletes answer success for missing keys, so ask first.
        if not self.exists(key):
            return False
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path)
        return True

    def purge_incoming(self, older_than: dt.timedelta) -> int:
        """Delete partial writes older than ``older_than`` (a process died mid-upload); returns how many.

        Keep ``older_than`` well above the longest upload, or a live upload loses its temporary object.
        """
        base = self._path(INCOMING_PREFIX)
        self.fs.invalidate_cache(base)
        try:
            paths = self.fs.find(base, withdirs=False)
        except FileNotFoundError:
            return 0
        cutoff = dt.datetime.now(dt.UTC) - older_than
        removed = 0
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                if _aware(self.fs.modified(path)) <= cutoff:
                    self.fs.rm(path)
                    removed += 1
        return removed

    def open(self, key: str) -> BinaryIO:
        """The object at ``key`` as a binary file open for reading (use it in a ``with`` block)."""
        path = self._path(validate_key(key))
        try:
            if self._local:
                return open(path, "rb")
            return cast(BinaryIO, self.fs.open(path, "rb", block_size=REMOTE_PART_BYTES))
        except FileNotFoundError as exc:
            raise _missing(key) from exc

    def iter_bytes(self, key: str, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The object at ``key`` in chunks of at most ``chunk_size`` bytes (for streaming responses)."""
        with self.open(key) as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def read_bytes(self, key: str) -> bytes:
        """The whole object at ``key``: for small objects only (manifests, reports)."""
        with self.open(key) as handle:
            return handle.read()

    def exists(self, key: str) -> bool:
        path = self._path(validate_key(key))
        # Another process may have written or deleted it since fsspec cached a listing.
        self.fs.invalidate_cache(path)
        return bool(self.fs.isfile(path))

    def size(self, key: str) -> int:
        """Size of the object at ``key`` in bytes."""
        path = self._path(validate_key(key))
        self.fs.invalidate_cache(path)
        try:
            return int(self.fs.size(path))
        except FileNotFoundError as exc:
            raise _missing(key) from exc

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (a key or a folder such as ``datasets/``), sorted; partial writes excluded."""
        base = self.root
        if prefix.strip("/"):
            base = self._path(validate_key(prefix.strip("/")))
        if self._local and not os.path.exists(base):
            return []
        self.fs.invalidate_cache(base)
        try:
            paths = self.fs.find(base, withdirs=False)
        except FileNotFoundError:
            return []
        keys = (p[len(self.root) + 1 :] for p in paths if p.startswith(self.root + "/"))
        return sorted(k for k in keys if not k.startswith(INCOMING_PREFIX + "/"))


def storage_options_for(url: str, settings: Settings) -> dict[str, Any]:
    """The configured store's fsspec options (endpoint, region...) when ``url`` uses the same protocol,
    else none: a worker opens the store's URLs with the options the service uses."""
    same = url.split("://", 1)[0] == settings.resolved_storage_url.split("://", 1)[0]
    return dict(settings.storage_options) if same and "://" in url else {}


def _chunks(source: ByteSource, chunk_size: int = CHUNK_BYTES) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]
        return
    read = getattr(source, "read", None)
    if callable(read):
        while chunk := read(chunk_size):
            if not isinstance(chunk, bytes | bytearray):
                raise StorageError("the upload source returned text; open it in binary mode")
            yield bytes(chunk)
        return
    for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise StorageError(f"the upload source yielded {type(chunk).__name__}, expected bytes")
        if chunk:
            yield bytes(chunk)


def _missing(key: str) -> ObjectNotFoundError:
    # Store errors reach API answers and job errors: the object's name, never its key or the store's
    # path (both are in the traceback this error is raised from, for the operator's log).
    return ObjectNotFoundError(f"the stored object {key.rsplit('/', 1)[-1]!r} is missing", param="key")


def _copy(source: ByteSource, out: Any, *, key: str, max_bytes: int | None) -> StoredObject:
    digest = hashlib.sha256()
    size = 0
    for chunk in _chunks(source):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            # The message reaches the uploader: the limit, never the object's key.
            raise TooLargeError(
                f"the upload is larger than the limit of {max_bytes} bytes",
                param="file",
                hint=f"the limit is {max_bytes} bytes; split the file or raise LORAPIPE_MAX_UPLOAD_BYTES",
            )
        digest.update(chunk)
        out.write(chunk)
    return StoredObject(key=key, size=size, sha256=digest.hexdigest())


def _abandon(handle: Any) -> None:
    """Drop a half-written remote file without publishing it (aborts an S3 multipart upload)."""
    with contextlib.suppress(Exception):
        handle.discard()
        # discard() leaves the buffer unusable, so closing would try to upload it: mark it closed.
        handle.closed = True
    with contextlib.suppress(Exception):
        handle.close()


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@contextlib.contextmanager
def _removed_on_error(remove: Any) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            remove()
        raise
