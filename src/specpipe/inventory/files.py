"""Walk a codebase deterministically: sorted repo-relative paths, vendored and build folders skipped."""

from __future__ import annotations

import bisect
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset(
    {
        "node_modules",
        ".git",
        ".hg",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".next",
        ".nuxt",
        "dist",
        "build",
        "out",
        ".turbo",
        "coverage",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".vercel",
        "site-packages",
        ".idea",
        ".vscode",
    }
)
MAX_BYTES = 512_000  # larger files are generated or data, not code a module calls
# Copies nobody runs: archive/, old/, backups/, web-old/, app.bak/, "src (copy)"; and packed ones.
ARCHIVE_DIR = re.compile(
    r"^_?(?:archived?|archives|old|backups?|bak)$|[-_. ](?:old|bak|backups?|archived?|copy)$|"
    r"^(?:old|backups?|archived?)[-_. ]|\(copy\)$",
    re.IGNORECASE,
)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".bak", ".orig")


def is_archive_dir(name: str) -> bool:
    """Whether a folder name marks an old copy (``archive``, ``old``, ``web-backup``, ``x.bak``)."""
    return bool(ARCHIVE_DIR.search(name))


def is_archive_file(name: str) -> bool:
    """Whether a file is a packed or backup copy (zip, tar, .bak)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class SourceFile:
    """A text file of the codebase; ``path`` is relative to the root, with forward slashes."""

    path: str
    text: str

    @property
    def suffix(self) -> str:
        return Path(self.path).suffix.lower()

    @functools.cached_property
    def _newlines(self) -> list[int]:
        return [i for i, ch in enumerate(self.text) if ch == "\n"]

    def line_of(self, offset: int) -> int:
        """1-based line of a character offset (binary search over newline positions)."""
        return bisect.bisect_left(self._newlines, offset) + 1


def walk(root: Path) -> list[SourceFile]:
    """Every readable text file under ``root`` below MAX_BYTES, sorted by path; archives skipped."""
    found: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not is_archive_dir(d))
        for name in sorted(filenames):
            if is_archive_file(name):
                continue
            full = Path(dirpath) / name
            try:
                if full.is_symlink() or full.stat().st_size > MAX_BYTES:
                    continue
                text = full.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            found.append(SourceFile(full.relative_to(root).as_posix(), text))
    return sorted(found, key=lambda f: f.path)
