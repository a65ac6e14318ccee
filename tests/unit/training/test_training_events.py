"""Event stream: JSON lines, strictly increasing seq (continued across a resume), no NaN."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lorapipe.training.events import EventWriter, last_seq

pytestmark = pytest.mark.unit


def test_events_go_to_stream_and_log_with_increasing_seq(tmp_path: Path) -> None:
    stream = io.StringIO()
    log = tmp_path / "metrics.jsonl"
    w = EventWriter(stream, log)
    w.stage("loading_model")
    w.emit("metrics", phase="train", step=1, loss=float("nan"), grad_norm=float("inf"))
    w.warning("examples_too_long", "2 skipped")
    w.close()
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert lines == [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert lines[1]["loss"] is None and lines[1]["grad_norm"] is None  # valid JSON for every reader
    assert {e["type"] for e in lines} == {"stage", "metrics", "warning"}
    assert all(e["time"].endswith("+00:00") for e in lines)


def test_a_resumed_writer_continues_after_the_last_seq_and_skips_a_cut_line(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    w = EventWriter(None, log)
    for _ in range(5):
        w.stage("training")
    w.close()
    with log.open("a") as fh:
        fh.write('{"seq": 6, "type": "metr')  # a hard kill mid-line
    assert last_seq(log) == 5
    stream = io.StringIO()
    EventWriter(stream, log).stage("training")
    assert json.loads(stream.getvalue())["seq"] == 6


def test_unknown_event_type_is_a_bug() -> None:
    with pytest.raises(ValueError):
        EventWriter(io.StringIO(), None).emit("progress")
