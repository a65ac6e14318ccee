"""Checkpoints through the object store: mirrored with a completion marker, pruned as the Trainer rotates
them, and the newest complete one fetched for a resume on a machine that has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore
from lorapipe.training.store_sync import (
    COMPLETE,
    fetch_latest_checkpoint,
    mirror_checkpoint,
    prune_checkpoints,
)

pytestmark = pytest.mark.integration


def checkpoint(folder: Path, step: int) -> Path:
    ckpt = folder / f"checkpoint-{step}"
    (ckpt / "nested").mkdir(parents=True)
    (ckpt / "adapter_model.safetensors").write_bytes(bytes([step]) * 100)
    (ckpt / "nested" / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    return ckpt


def test_mirror_prune_and_fetch_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    uri = (tmp_path / "store" / "ckpts").as_uri()
    store = ObjectStore(uri)
    local = tmp_path / "run" / "checkpoints"
    for step in (2, 4, 6):
        mirror_checkpoint(checkpoint(local, step), store)
    prune_checkpoints(store, {"checkpoint-4", "checkpoint-6"})  # the Trainer rotated checkpoint-2 away
    assert not any(k.startswith("checkpoint-2/") for k in store.list())
    # A checkpoint whose upload was cut off (no marker) is never resumed from.
    store.put("checkpoint-8/adapter_model.safetensors", b"partial")

    fresh = tmp_path / "other-machine" / "checkpoints"
    got = fetch_latest_checkpoint(uri, fresh, settings)
    assert got == fresh / "checkpoint-6"
    assert (got / "adapter_model.safetensors").read_bytes() == bytes([6]) * 100
    assert (got / "nested" / "trainer_state.json").read_text() == '{"global_step": 6}'
    assert not (got / COMPLETE).exists()


def test_nothing_to_fetch_is_none(tmp_path: Path) -> None:
    assert (
        fetch_latest_checkpoint((tmp_path / "empty").as_uri(), tmp_path / "c", Settings(data_dir=tmp_path))
        is None
    )
