"""A named, exported definition found in a source file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Symbol:
    """An exported name with its kind (function, const, type, class) and a one-line signature."""

    name: str
    kind: str
    line: int
    signature: str
