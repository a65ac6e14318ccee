"""Upload bodies read as they arrive, for sync handlers (which run in a worker thread): the raw body as
a blocking chunk iterator, and the one file inside a ``multipart/form-data`` body, yielded as it is
parsed. Neither spools: memory holds one chunk, and the bytes go straight to the object store, whose
``max_bytes`` is the upload limit (the body as a whole is capped by :mod:`lorapipe.api.body_limit`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import anyio.from_thread
from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from lorapipe.errors import UserError

#: A text field of the form (``purpose``); anything longer is not a field we know.
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 8


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as a blocking iterator, for a sync handler (runs in a worker thread)."""
    stream: AsyncIterator[bytes] = request.stream()

    async def next_chunk() -> bytes:
        return await anext(stream)

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except StopAsyncIteration:
            return
        except ClientDisconnect:
            # The client went away mid-upload: the store keeps nothing of it (put() cleans up on error).
            raise UserError("the upload was interrupted: the client disconnected", param="file") from None
        if chunk:
            yield chunk


def _bad(message: str, param: str = "file") -> UserError:
    return UserError(message, param=param, hint="send multipart/form-data with a 'file' part")


class MultipartUpload:
    """The file part named ``file_field`` of a multipart body, and the small text fields around it.

    :meth:`start` reads up to the first byte of the file (the fields sent before it, and the file's
    name, are then known); :meth:`file_chunks` yields the file as it arrives, then reads the rest of
    the body and calls ``on_complete`` with every field, so a field sent after the file is checked
    before the upload counts (an error raised there aborts the store like any failed read).
    """

    def __init__(self, content_type: str, chunks: Iterator[bytes], *, file_field: str = "file") -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise _bad("the upload must be multipart/form-data with a boundary")
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self._file_field = file_field
        self._chunks = chunks
        self._pending: list[bytes] = []
        self._part_headers: dict[str, str] = {}
        self._header = [b"", b""]
        self._part: str | None = None  # the current part: file_field, a field name, or None
        self._value = bytearray()
        self._file_started = self._file_done = self._ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda d, s, e: self._add_header(0, d[s:e]),
                "on_header_value": lambda d, s, e: self._add_header(1, d[s:e]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    def _on_part_begin(self) -> None:
        self._part_headers, self._part, self._value = {}, None, bytearray()

    def _add_header(self, index: int, data: bytes) -> None:
        self._header[index] += data

    def _on_header_end(self) -> None:
        name, value = (h.decode("latin-1").strip() for h in self._header)
        self._part_headers[name.lower()] = value
        self._header = [b"", b""]

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part_headers.get("content-disposition", ""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == self._file_field:
            if self._file_started:
                raise _bad(f"send one '{self._file_field}' part, not several")
            filename = options.get(b"filename")
            self.filename = filename.decode("utf-8", "replace") if filename else None
            self._file_started = True
        elif len(self.fields) >= MAX_FIELDS:
            raise _bad(f"too many form fields (at most {MAX_FIELDS})")
        self._part = name

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == self._file_field:
            self._pending.append(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise _bad(
                f"form field {self._part!r} is over {MAX_FIELD_BYTES} bytes", param=self._part or "file"
            )

    def _on_part_end(self) -> None:
        if self._part == self._file_field:
            self._file_done = True
        elif self._part:
            self.fields[self._part] = self._value.decode("utf-8", "replace")

    def _on_end(self) -> None:
        self._ended = True

    def _feed(self) -> bool:
        """Parse the next chunk of the body; False when the body has ended."""
        chunk = next(self._chunks, None)
        if chunk is None:
            if not self._ended:
                raise _bad("the multipart body ended before its closing boundary")
            return False
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise _bad(f"the multipart body is malformed: {exc}") from None
        return True

    def start(self) -> None:
        """Read up to the start of the file's data (fields sent before it are then in ``fields``)."""
        while not self._file_started and self._feed():
            pass
        if not self._file_started:
            raise _bad(f"the upload has no '{self._file_field}' part")

    def file_chunks(self, on_complete: Callable[[dict[str, str]], None] | None = None) -> Iterator[bytes]:
        """The file's bytes as they arrive; then the rest of the body is read and checked."""
        if not self._file_started:
            self.start()
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if self._file_done or not self._feed():
                break
        while self._feed():
            pass
        if on_complete is not None:
            on_complete(self.fields)
