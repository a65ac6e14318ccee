"""Commands that generate prompts from a codebase and specs: inventory, blueprint, merge."""

from __future__ import annotations


def inventory() -> None:
    """Scan a codebase (not yet implemented)."""


def blueprint() -> None:
    """Render the blueprint prompt (not yet implemented)."""


def merge() -> None:
    """Render the merge prompt (not yet implemented)."""
