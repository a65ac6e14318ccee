"""Deterministic inventory of an existing codebase: what a new module must reuse, not rebuild."""

from specpipe.inventory.assemble import scan_codebase
from specpipe.inventory.digest import render_digest

__all__ = ["render_digest", "scan_codebase"]
