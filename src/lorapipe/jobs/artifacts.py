"""Artifact verification: a run's ``manifest.json`` lists every file with its size and sha256; a job
is ``succeeded`` only when every listed file exists with exactly that size and digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorapipe.errors import IntegrityError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class VerifiedArtifacts:
    out_dir: Path
    manifest: dict[str, Any]
    #: Relative path -> size in bytes of every verified file.
    files: dict[str, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def _entries(manifest: dict[str, Any]) -> list[tuple[str, int, str]]:
    """``(path, size, sha256)`` of each file, from ``files`` as a list of objects or a path-keyed map."""
    files = manifest.get("files")
    if isinstance(files, dict):
        items = [{"path": path, **meta} for path, meta in files.items() if isinstance(meta, dict)]
    elif isinstance(files, list):
        items = [item for item in files if isinstance(item, dict)]
    else:
        raise IntegrityError("manifest.json has no 'files' list", param="manifest")
    entries = []
    for item in items:
        path, size, digest = item.get("path"), item.get("size", item.get("bytes")), item.get("sha256")
        if not isinstance(path, str) or not isinstance(size, int) or not isinstance(digest, str):
            raise IntegrityError(f"manifest entry {item!r} lacks path, size or sha256", param="manifest")
        entries.append((path, size, digest))
    if not entries:
        raise IntegrityError("manifest.json lists no files", param="manifest")
    return entries


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_artifacts(out_dir: Path) -> VerifiedArtifacts:
    """Check ``out_dir/manifest.json`` against the files; raise :class:`IntegrityError` naming the first
    missing, resized or altered file."""
    manifest_path = out_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"the run wrote no {MANIFEST_NAME} in {out_dir}", param="manifest") from None
    except ValueError as exc:
        raise IntegrityError(f"{manifest_path} is not valid JSON: {exc}", param="manifest") from None
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{manifest_path} is not a JSON object", param="manifest")
    root = out_dir.resolve()
    verified: dict[str, int] = {}
    for rel, size, digest in _entries(manifest):
        path = (out_dir / rel).resolve()
        if not path.is_relative_to(root):
            raise IntegrityError(f"manifest path {rel!r} points outside the output folder", param="manifest")
        if not path.is_file():
            raise IntegrityError(f"artifact {rel} listed in the manifest is missing", param=rel)
        actual = path.stat().st_size
        if actual != size:
            raise IntegrityError(f"artifact {rel} has {actual} bytes, the manifest says {size}", param=rel)
        if sha256_file(path) != digest:
            raise IntegrityError(f"artifact {rel} does not match its sha256 in the manifest", param=rel)
        verified[rel] = size
    return VerifiedArtifacts(out_dir=out_dir, manifest=manifest, files=verified)
