"""Build a cached folder once, atomically, so concurrent processes never see a half-written one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Return ``target``, first filling it with ``build(tmp)`` and renaming ``tmp`` into place if missing.

    ``build`` writes into an empty scratch folder next to ``target``; the rename is atomic on one
    filesystem, and when another process won the race its folder is kept and ours is discarded.
    Version the folder name when what ``build`` writes changes, so stale caches are not reused.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        build(scratch)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target
