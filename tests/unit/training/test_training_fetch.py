"""The engine's inputs: dataset errors name the dataset, not where it lies; the base-model download
reports progress and honours a cancel while it waits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lorapipe.contract.spec import DataRef
from lorapipe.errors import DatasetError, ObjectNotFoundError
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import CancelFlag, Cancelled
from lorapipe.training.fetch import download_progress, fetch_data

pytestmark = pytest.mark.unit


def test_a_missing_dataset_is_named_by_role_and_file_name(tmp_path: Path) -> None:
    ref = DataRef(uri=str(tmp_path / "secret-folder" / "train.jsonl"))
    with pytest.raises(ObjectNotFoundError) as info:
        fetch_data(ref, tmp_path / "work")
    assert "the training dataset (train.jsonl) does not exist" in str(info.value)
    assert str(tmp_path) not in str(info.value) and "secret-folder" not in str(info.value)
    with pytest.raises(ObjectNotFoundError, match=r"validation dataset \(train\.jsonl\)") as info:
        fetch_data(ref, tmp_path / "work", "validation")
    assert info.value.param == "validation.uri"


def test_a_changed_dataset_says_so_without_its_path(tmp_path: Path) -> None:
    path = tmp_path / "store" / "canonical.jsonl"
    path.parent.mkdir()
    path.write_text("{}\n")
    with pytest.raises(DatasetError, match=r"training dataset \(canonical\.jsonl\) has sha256") as info:
        fetch_data(DataRef(uri=path.as_uri(), sha256="0" * 64), tmp_path / "work")
    assert str(tmp_path) not in str(info.value) and "file://" not in str(info.value)


def test_download_progress_is_throttled_and_stops_on_cancel() -> None:
    stream = io.StringIO()
    cancel = CancelFlag()
    report = download_progress(EventWriter(stream, None), cancel, "someone/model", every_s=0.0)
    report(0)  # nothing received yet: no event
    report(2_500_000_000)
    report(2_500_000_000)  # no more bytes: no event
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["stage"], e["message"]) for e in events] == [
        ("downloading", "someone/model: 2.50 GB received")
    ]
    cancel.requested = True
    with pytest.raises(Cancelled):
        report(3_000_000_000)
