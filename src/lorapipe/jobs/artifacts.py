"""Artifact verification, read back from the object store: a run's ``manifest.json`` lists every file
with its size and sha256; a job is ``succeeded`` only when every listed file is in the store with exactly
that size and digest, and the listed files make a loadable PEFT adapter (its config and its weights)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from lorapipe.contract.artifacts import EVALUATION_REPORT, MANIFEST
from lorapipe.errors import IntegrityError, ObjectNotFoundError, StorageKeyError
from lorapipe.storage import ObjectStore, validate_key

#: What PEFT's ``PeftModel.from_pretrained`` needs: without both, the "adapter" cannot be loaded.
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class VerifiedArtifacts:
    #: The store key of the folder the manifest and its files are in.
    prefix: str
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


def _digest(store: ObjectStore, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in store.iter_bytes(key):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _manifest(store: ObjectStore, prefix: str) -> dict[str, Any]:
    try:
        manifest = json.loads(store.read_bytes(f"{prefix}/{MANIFEST}"))
    except ObjectNotFoundError:
        raise IntegrityError(f"the run stored no {MANIFEST}", param="manifest") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{MANIFEST} is not valid JSON: {exc}", param="manifest") from None
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{MANIFEST} is not a JSON object", param="manifest")
    return manifest


def verify_artifacts(store: ObjectStore, prefix: str, *, evaluation: bool = False) -> VerifiedArtifacts:
    """Check ``<prefix>/manifest.json`` in ``store`` against the stored files, reading every byte back;
    raise :class:`IntegrityError` naming the first missing, resized or altered file, or the adapter part
    (``evaluation``: the evaluation report) the manifest lacks."""
    manifest = _manifest(store, prefix)
    entries = _entries(manifest)
    names = {rel for rel, _, _ in entries}
    if evaluation and EVALUATION_REPORT not in names:
        raise IntegrityError(f"the manifest lists no {EVALUATION_REPORT}", param="manifest")
    if not evaluation and (ADAPTER_CONFIG not in names or not names.intersection(ADAPTER_WEIGHTS)):
        raise IntegrityError(
            f"the manifest lists no loadable adapter ({ADAPTER_CONFIG} and {ADAPTER_WEIGHTS[0]} are needed)",
            param="manifest",
        )
    for rel, _, _ in entries:  # every path checked before any byte is read
        try:
            validate_key(f"{prefix}/{rel}")
        except StorageKeyError:
            raise IntegrityError(
                f"manifest path {rel!r} points outside the run's folder", param="manifest"
            ) from None
    verified: dict[str, int] = {}
    for rel, size, digest in entries:
        key = f"{prefix}/{rel}"
        try:
            actual, actual_digest = _digest(store, key)
        except ObjectNotFoundError:
            raise IntegrityError(f"artifact {rel} listed in the manifest is missing", param=rel) from None
        if actual != size:
            raise IntegrityError(f"artifact {rel} has {actual} bytes, the manifest says {size}", param=rel)
        if actual_digest != digest:
            raise IntegrityError(f"artifact {rel} does not match its sha256 in the manifest", param=rel)
        verified[rel] = size
    return VerifiedArtifacts(prefix=prefix, manifest=manifest, files=verified)
