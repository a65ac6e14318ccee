"""A named, exported definition found in a source file, and a definition body the role rules read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Symbol:
    """An exported name with its kind and a one-line signature.

    kind: function, const, class, object (an object literal or an instance), type, reexport,
    namespace. ``source`` is the module a re-export comes from; ``default`` marks ``export default``.
    """

    name: str
    kind: str
    line: int
    signature: str
    source: str = ""
    default: bool = False


@dataclass(frozen=True)
class Unit:
    """A top-level definition (function, class, object, const) with its code, comments blanked.

    ``members`` are the methods of a class or an object literal: (name, line, body). ``jsx`` says the
    definition renders markup (a component), which no infrastructure helper does.
    """

    name: str
    kind: str
    line: int
    body: str
    members: tuple[tuple[str, int, str], ...] = ()
    jsx: bool = False
