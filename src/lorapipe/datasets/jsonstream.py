"""Streaming JSON and JSON Lines with exact error positions and memory bounded by the largest record.

Records are yielded one at a time with the line they start on. A single huge JSON array (or an
object holding one, like a brightrun-lora-v4 document) is streamed element by element with
``json.JSONDecoder.raw_decode`` over a sliding text window, so memory does not grow with file size
and a syntax error is reported with its line and column.

Length: one hand-written state machine (container detection, element boundaries, line tracking);
splitting it would scatter one invariant across files.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

CHUNK_BYTES = 1 << 20
MAX_RECORD_CHARS = 64 << 20
"""A single record larger than this is reported instead of buffered (64 Mi characters)."""
TOO_DEEP = "the JSON is nested too deeply to read (arrays or objects thousands of levels deep)"

# Arrays under these keys of a top-level object are streamed as the file's records.
RECORD_ARRAY_KEYS = frozenset({"conversations", "data", "examples", "records", "items", "rows"})

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

Container = Literal["jsonl", "array", "object", "empty"]


class SourceError(Exception):
    """The file cannot be read past this point (bad encoding, broken JSON structure)."""

    def __init__(
        self, code: str, message: str, *, line: int | None, column: int | None = None, suggestion: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class RawRecord:
    value: Any
    line: int
    key: str | None = None
    """For records streamed out of a top-level object: the key of the array they came from."""


class ByteSource(Protocol):
    """What the reader needs of a file: ``read(n)`` returning bytes, ``b""`` at the end."""

    def read(self, n: int = -1, /) -> bytes: ...


ProgressFn = Callable[[int], None]
"""Called with the number of bytes read so far."""


def _not_utf8(offset: int, line: int) -> SourceError:
    return SourceError(
        "not_utf8",
        f"the file is not valid UTF-8 (first bad byte at offset {offset})",
        line=line,
        suggestion="re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
    )


class _Text:
    """Strict UTF-8 decoding of a binary stream in chunks, with a byte count for progress."""

    def __init__(self, raw: ByteSource, progress: ProgressFn | None) -> None:
        self.raw = raw
        self.progress = progress
        self.bytes_read = 0
        self.newlines = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._first = True

    def read(self) -> str:
        """The next piece of text; '' only at the end of the file."""
        text = ""
        while not text:  # a chunk can end inside a multi-byte character and decode to ''
            data = self.raw.read(CHUNK_BYTES)
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                line = self.newlines + data[: e.start].count(b"\n") + 1
                raise _not_utf8(self.bytes_read + e.start, line) from None
            self.bytes_read += len(data)
            self.newlines += data.count(b"\n")
            if not data:
                break
        if self.progress is not None:
            self.progress(self.bytes_read)
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
            if not text and data:
                return self.read()
        return text


class _Window:
    """A sliding text window over the file with line bookkeeping for error positions."""

    def __init__(self, text: _Text, head: str) -> None:
        self.text = text
        self.buf = head
        self.pos = 0
        # Newlines are counted incrementally from a cursor, so locating each record costs only the
        # text since the previous one (counting from buf[0] every time made reading quadratic).
        self._cpos = 0
        self._cline = 1  # line number at buf[_cpos]
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read()
        if not chunk:
            self.eof = True
            return False
        self._cline = self.line_at(self.pos)
        self.buf = self.buf[self.pos :] + chunk
        self.pos = self._cpos = 0
        return True

    def line_at(self, p: int) -> int:
        """1-based line of buf[p]; cheap for increasing p."""
        if p >= self._cpos:
            self._cline += self.buf.count("\n", self._cpos, p)
        else:
            self._cline -= self.buf.count("\n", p, self._cpos)
        self._cpos = p
        return self._cline

    def where(self, pos: int | None = None) -> tuple[int, int]:
        """(line, column) of buf[pos]: for error messages."""
        p = self.pos if pos is None else pos
        col = p - (self.buf.rfind("\n", 0, p) + 1) + 1
        return self.line_at(p), col

    def peek(self) -> str:
        """The next non-whitespace character ('' at end of file), without consuming it."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if c == "" or c not in chars:
            line, col = self.where()
            if c == "":
                raise SourceError(
                    "truncated_json",
                    f"the file ends where {what} was expected",
                    line=line,
                    column=col,
                    suggestion="the file looks truncated: upload it again or regenerate it",
                )
            raise SourceError(
                "invalid_json",
                f"expected {what} but found {c!r}",
                line=line,
                column=col,
                suggestion="fix the JSON syntax at this position",
            )
        self.pos += 1
        return c

    def value(self) -> tuple[Any, int]:
        """Decode one JSON value at the cursor; returns it with the line it starts on."""
        self.peek()
        last_error: tuple[str, int] | None = None
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except RecursionError:
                line, col = self.where(self.pos)
                raise SourceError(
                    "invalid_json", TOO_DEEP, line=line, column=col, suggestion="flatten the record"
                ) from None
            except json.JSONDecodeError as e:
                # An error may only mean the window ends inside this value: read more and retry.
                # The same error at the same place after more data is a real syntax error.
                current = (e.msg, e.pos - self.pos)
                near_end = e.pos >= len(self.buf) - 32  # e.g. an escape cut by the window
                incomplete = near_end or e.msg.startswith("Unterminated string") or current != last_error
                if incomplete and len(self.buf) - self.pos < MAX_RECORD_CHARS and self.fill():
                    last_error = (e.msg, e.pos - self.pos)
                    continue
                line, col = self.where(e.pos)
                at_end = e.pos >= len(self.buf.rstrip()) - 6  # within an escape's length of the end
                if self.eof and (at_end or e.msg.startswith("Unterminated string")):
                    raise SourceError(
                        "truncated_json",
                        f"the file ends inside a JSON value ({e.msg})",
                        line=line,
                        column=col,
                        suggestion="the file looks truncated: upload it again or regenerate it",
                    ) from None
                raise SourceError(
                    "invalid_json",
                    f"malformed JSON: {e.msg}",
                    line=line,
                    column=col,
                    suggestion="fix the JSON syntax at this position",
                ) from None
            # A number or literal that ends exactly at the window's end may continue in the next chunk.
            if end == len(self.buf) and not isinstance(value, dict | list | str) and self.fill():
                continue
            start_line = self.line_at(self.pos)
            self.pos = end
            return value, start_line


def open_container(
    raw: ByteSource, progress: ProgressFn | None = None
) -> tuple[Container, Iterator[RawRecord]]:
    """Detect how records are laid out in ``raw`` and return an iterator over them.

    ``jsonl``: one value per line; ``array``: a top-level JSON array; ``object``: a top-level object
    whose record arrays (``RECORD_ARRAY_KEYS``) are streamed with ``key`` set; an object without
    one is a single record.
    """
    text = _Text(raw, progress)
    head = ""
    # Read until the first non-blank line is complete: that decides JSON Lines vs one document.
    while True:
        stripped = head.lstrip(" \t\r\n")
        if "\n" in stripped or len(stripped) > MAX_RECORD_CHARS:
            break
        chunk = text.read()
        if not chunk:
            break
        head += chunk
    if not stripped:
        return "empty", iter(())
    if stripped[0] == "[":
        return "array", _array_records(_Window(text, head))
    if stripped[0] == "{" and _parses(stripped.split("\n", 1)[0]):
        return "jsonl", _jsonl_records(head, text)
    if stripped[0] == "{":
        return "object", _object_records(_Window(text, head))
    # Neither an array nor an object: JSON Lines of something else; each line reports itself.
    return "jsonl", _jsonl_records(head, text)


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    except RecursionError:
        return True  # a JSON line, too deep: reported as such by _jsonl_line
    return True


def _jsonl_records(head: str, text: _Text) -> Iterator[RawRecord]:
    carry = head
    line_no = 0
    while True:
        lines = carry.split("\n")
        carry = lines.pop()
        for raw_line in lines:
            line_no += 1
            yield from _jsonl_line(raw_line, line_no)
        chunk = text.read()
        if not chunk:
            break
        carry += chunk
    if carry.strip():
        line_no += 1
        yield from _jsonl_line(carry, line_no, last=True)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A JSONL line that does not parse; the reader reports it and goes on with the next line."""

    message: str
    column: int
    truncated: bool


def _jsonl_line(raw_line: str, line_no: int, last: bool = False) -> Iterator[RawRecord]:
    if not raw_line.strip():
        return
    try:
        value = json.loads(raw_line)
    except json.JSONDecodeError as e:
        hint = " (the last line looks cut off: was the file truncated?)" if last else ""
        value = BadLine(f"invalid JSON: {e.msg}{hint}", e.colno, truncated=last)
    except RecursionError:
        value = BadLine(TOO_DEEP, 1, truncated=False)
    yield RawRecord(value, line_no)


def _array_items(w: _Window) -> Iterator[RawRecord]:
    w.expect("[", "'['")
    if w.peek() == "]":
        w.pos += 1
        return
    while True:
        value, line = w.value()
        yield RawRecord(value, line)
        if w.expect(",]", "',' or ']' after a record") == "]":
            return


def _array_records(w: _Window) -> Iterator[RawRecord]:
    yield from _array_items(w)
    _expect_end(w)


def _object_records(w: _Window) -> Iterator[RawRecord]:
    start_line = w.line_at(w.pos)
    w.expect("{", "'{'")
    fields: dict[str, Any] = {}
    streamed = False
    if w.peek() == "}":
        w.pos += 1
    else:
        while True:
            key, line = w.value()
            if not isinstance(key, str):
                raise SourceError("invalid_json", "expected an object key", line=line)
            w.expect(":", "':'")
            if key in RECORD_ARRAY_KEYS and w.peek() == "[":
                streamed = True
                for rec in _array_items(w):
                    yield RawRecord(rec.value, rec.line, key)
            else:
                fields[key] = w.value()[0]
            if w.expect(",}", "',' or '}'") == "}":
                break
    _expect_end(w)
    if not streamed:
        yield RawRecord(fields, start_line)


def _expect_end(w: _Window) -> None:
    if w.peek() != "":
        line, col = w.where()
        raise SourceError(
            "invalid_json",
            "unexpected data after the end of the JSON document",
            line=line,
            column=col,
            suggestion="a JSON file holds one document; use JSON Lines for one record per line",
        )
