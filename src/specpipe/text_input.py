"""Reading user files as text, with an error that says where the bytes went wrong.

Specs, plans and context files come from people and LLMs; a latin-1 export or a binary file
given by mistake should be one clear line (file, line, byte offset), never a decode traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A user file that cannot be used; the message names the file and the line."""


def read_text(path: Path) -> str:
    """The file's text as UTF-8; InputError naming the line and byte offset when it is not UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if (nul := data.find(b"\0", 0, 8192)) >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(f"{path}:{line}: a binary file (NUL byte at offset {nul}), not markdown or YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"{path}:{line}: not UTF-8 text (byte 0x{bad} at offset {exc.start}); save the file as UTF-8"
        ) from None
