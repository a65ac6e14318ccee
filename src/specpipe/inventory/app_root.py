"""Which app to inventory when the codebase folder holds several, and what to ignore as archives.

A real repository root often holds the app, a second app (an admin portal, a marketing site), and
copies nobody runs (``archive/``, ``web-old/``, ``backup.zip``). Inventorying all of it mixes three
apps' helpers into one list. The app is the folder with a manifest that looks most like the
running application: a framework (``next.config.*`` or a web framework among its dependencies),
then the most routes of its own, then the most source files. ``--app`` overrides the choice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from specpipe.inventory.files import SKIP_DIRS, is_archive_dir, is_archive_file

MANIFESTS = frozenset({"package.json", "pyproject.toml", "requirements.txt", "setup.py", "manage.py"})
FRAMEWORK_DEP = re.compile(
    r"""["'](next|nuxt|@sveltejs/kit|express|fastify|@nestjs/core|hono|react-scripts|vite)["']\s*:|"""
    r"""(?:^|["'\s,\[])(fastapi|django|flask|starlette)(?:$|[\s"'=<>~!\[;,])""",
    re.MULTILINE | re.IGNORECASE,
)
SOURCE_SUFFIXES = frozenset({".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".py"})
JS_ROUTE = re.compile(r"(^|/)app/(.*/)?(page|route)\.(tsx?|jsx?)$|(^|/)pages/.+\.(tsx?|jsx?)$")
PY_ROUTE = re.compile(r"^\s*@\w+\.(get|post|put|patch|delete|route|api_route)\(", re.MULTILINE)
MAX_DEPTH = 3


@dataclass
class Candidate:
    """A folder with a package manifest; counts are of files not inside a nested candidate."""

    dir: str
    framework: bool
    routes: int = 0
    files: int = 0

    def key(self) -> tuple[bool, int, int, int]:
        return (self.framework, self.routes, self.files, -self.dir.count("/") - (self.dir != "."))


@dataclass
class AppChoice:
    """The chosen app folder (relative to the codebase root, ``.`` for the root) and why."""

    root: str
    reason: str
    candidates: list[Candidate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "reason": self.reason,
            "candidates": [
                {"dir": c.dir, "framework": c.framework, "routes": c.routes, "source_files": c.files}
                for c in sorted(self.candidates, key=lambda c: c.dir)
            ],
            "ignored": self.ignored,
        }


def _is_framework(folder: Path, names: set[str]) -> bool:
    if any(n.startswith("next.config.") for n in names) or "manage.py" in names:
        return True
    for manifest in ("package.json", "pyproject.toml", "requirements.txt"):
        if manifest in names:
            try:
                text = (folder / manifest).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if FRAMEWORK_DEP.search(text):
                return True
    return False


def _is_py_route_file(path: Path) -> bool:
    try:
        return bool(PY_ROUTE.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


def choose_app(root: Path, app: str | None = None) -> AppChoice:
    """Survey ``root`` (archives skipped) and pick the app folder to inventory."""
    candidates: dict[str, Candidate] = {}
    sources: list[tuple[str, bool]] = []  # (relative path, is a route file)
    ignored: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = PurePosixPath(Path(dirpath).relative_to(root).as_posix())
        kept = []
        for d in sorted(dirnames):
            if d in SKIP_DIRS or d.startswith("."):
                continue
            if is_archive_dir(d):
                ignored.append(f"{(rel / d).as_posix()}/".removeprefix("./"))
            else:
                kept.append(d)
        dirnames[:] = kept
        names = set(filenames)
        ignored += [(rel / n).as_posix().removeprefix("./") for n in sorted(names) if is_archive_file(n)]
        depth = 0 if str(rel) == "." else len(rel.parts)
        if names & MANIFESTS and depth <= MAX_DEPTH:
            candidates[str(rel)] = Candidate(str(rel), _is_framework(Path(dirpath), names))
        for n in names:
            suffix = PurePosixPath(n).suffix
            if suffix in SOURCE_SUFFIXES:
                path = (rel / n).as_posix().removeprefix("./")
                route = bool(JS_ROUTE.search(path)) or (
                    suffix == ".py" and _is_py_route_file(Path(dirpath) / n)
                )
                sources.append((path, route))
    for path, route in sources:
        owner = _owner(path, candidates)
        if owner is not None:
            owner.files += 1
            owner.routes += route
    found = list(candidates.values())
    if app is not None:
        return AppChoice(
            PurePosixPath(app).as_posix().strip("/") or ".", "given with --app or [paths] app", found, ignored
        )
    if not found:
        return AppChoice(".", "no package manifest found: the whole folder", found, ignored)
    best = max(found, key=Candidate.key)
    if len(found) == 1:
        reason = f"the only folder with a package manifest ({best.files} source files)"
    else:
        reason = (
            f"{'a framework app' if best.framework else 'no framework app found'}, with the most routes "
            f"({best.routes}) and source files ({best.files}) of {len(found)} folders with a manifest"
        )
    return AppChoice(best.dir, reason, found, ignored)


def _owner(path: str, candidates: dict[str, Candidate]) -> Candidate | None:
    """The nearest candidate folder that contains ``path``."""
    parent = PurePosixPath(path).parent
    while True:
        hit = candidates.get(str(parent))
        if hit is not None:
            return hit
        if str(parent) == ".":
            return None
        parent = parent.parent
