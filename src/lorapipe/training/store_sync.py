"""Moving a run's files through the object store, so a run can end on a machine that is then thrown away
(a RunPod worker, a pod) and resume on another.

- :func:`upload_artifacts`: the finished adapter folder to ``spec.output.upload_uri``, every file's
  sha256 checked against the manifest while it is written, the manifest last (a reader that sees the
  manifest sees every file it lists).
- :class:`CheckpointMirror`: each checkpoint, as the Trainer saves it, to
  ``spec.output.checkpoint_uri``/``checkpoint-<step>/``; a ``_complete`` marker is written last, and
  checkpoints the Trainer rotated away locally are removed remotely too.
- :func:`fetch_latest_checkpoint`: the newest complete mirrored checkpoint into the local checkpoints
  folder, for ``--resume`` on a machine that has none.

Credentials come from the process's environment (or the settings' ``storage_options`` for the
configured store), never from the spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from lorapipe.contract.artifacts import MANIFEST
from lorapipe.errors import IntegrityError, StorageError
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore, storage_options_for
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import redact

COMPLETE = "_complete"
CHECKPOINT_PREFIX = "checkpoint-"


def _store(uri: str, settings: Settings) -> ObjectStore:
    return ObjectStore(uri, **storage_options_for(uri, settings))


def _put_checked(store: ObjectStore, key: str, local: Path, sha256: str | None = None) -> None:
    with local.open("rb") as handle:
        try:
            stored = store.put(key, handle)
        except StorageError:
            raise
        except OSError as exc:
            # The store's own words ("Access Denied") do not say what was being written; its URL and
            # the paths in its words stay here (this message reaches users).
            raise StorageError(
                f"uploading {key} to the object store failed: {type(exc).__name__}: {redact(str(exc)[:300])}",
                param="output",
                hint="check that the worker's store credentials may write there",
            ) from exc
    size = local.stat().st_size
    if stored.size != size or (sha256 is not None and stored.sha256 != sha256):
        raise IntegrityError(
            f"upload of {key} wrote {stored.size} bytes (sha256 {stored.sha256[:12]}) but the file has "
            f"{size} bytes{f' (sha256 {sha256[:12]})' if sha256 else ''}",
            param="output.upload_uri",
        )


def upload_artifacts(out_dir: Path, uri: str, settings: Settings) -> list[str]:
    """Copy every file the manifest lists, then the manifest; returns the names written."""
    store = _store(uri, settings)
    manifest = json.loads((out_dir / MANIFEST).read_text("utf-8"))
    for entry in manifest["files"]:
        _put_checked(store, entry["path"], out_dir / entry["path"], entry["sha256"])
    _put_checked(store, MANIFEST, out_dir / MANIFEST)
    return [entry["path"] for entry in manifest["files"]] + [MANIFEST]


def _step(name: str) -> int | None:
    tail = name[len(CHECKPOINT_PREFIX) :]
    return int(tail) if name.startswith(CHECKPOINT_PREFIX) and tail.isdigit() else None


def mirror_checkpoint(checkpoint: Path, store: ObjectStore) -> None:
    """Upload one checkpoint folder, files first and the ``_complete`` marker last."""
    for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        _put_checked(store, f"{checkpoint.name}/{path.relative_to(checkpoint).as_posix()}", path)
    store.put(f"{checkpoint.name}/{COMPLETE}", b"")


def _remote_checkpoints(store: ObjectStore) -> dict[str, set[str]]:
    """Mirrored checkpoint folder name -> its files (the marker included)."""
    found: dict[str, set[str]] = {}
    for key in store.list():
        folder, _, rest = key.partition("/")
        if _step(folder) is not None and rest:
            found.setdefault(folder, set()).add(rest)
    return found


def prune_checkpoints(store: ObjectStore, keep: set[str]) -> None:
    """Delete mirrored checkpoints that are no longer kept locally (rotated by ``keep_checkpoints``)."""
    for folder, files in _remote_checkpoints(store).items():
        if folder not in keep:
            for name in sorted(files, key=lambda n: n == COMPLETE, reverse=True):  # marker first
                store.delete(f"{folder}/{name}")


def fetch_latest_checkpoint(uri: str, local_folder: Path, settings: Settings) -> Path | None:
    """Download the newest mirrored checkpoint that has its ``_complete`` marker; None when none has."""
    store = _store(uri, settings)
    complete = [f for f, files in _remote_checkpoints(store).items() if COMPLETE in files]
    if not complete:
        return None
    newest = max(complete, key=lambda f: _step(f) or 0)
    target = local_folder / newest
    for key in store.list(newest):
        name = key.partition("/")[2]
        if name == COMPLETE:
            continue
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with store.open(key) as src, dest.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    return target


class CheckpointMirror(TrainerCallback):
    """Mirrors each saved checkpoint to the store. Registered after the progress callback, so the
    progress file it writes into the checkpoint travels with it."""

    def __init__(self, uri: str, settings: Settings, events: EventWriter, main_process: bool) -> None:
        self.store = _store(uri, settings)
        self.events = events
        self.main_process = main_process

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if not self.main_process:
            return
        folder = Path(str(args.output_dir))
        checkpoint = folder / f"{CHECKPOINT_PREFIX}{state.global_step}"
        if not checkpoint.is_dir():
            return
        mirror_checkpoint(checkpoint, self.store)
        local = {p.name for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir()}
        prune_checkpoints(self.store, local)
