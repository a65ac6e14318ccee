"""inspect_dataset without a tokenizer: counts, duplicates, checksum, metadata distributions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lorapipe.datasets.inspect import inspect_dataset

pytestmark = pytest.mark.unit

EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.json"


def test_duplicates_are_warned_with_the_first_record(tmp_path: Path) -> None:
    rec = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    other = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (rec, other, rec)) + "\n")
    report = inspect_dataset(path)
    assert report.ok and report.examples == 3 and report.conversations == 3
    (p,) = report.problems
    assert (p.code, p.line, p.severity) == ("duplicate", 3, "warning") and "record 0" in p.message


def test_eq12_report_fields() -> None:
    report = inspect_dataset(EQ12)
    assert report.sha256 == hashlib.sha256(EQ12.read_bytes()).hexdigest()
    assert report.bytes == EQ12.stat().st_size and report.complete
    assert report.metadata["emotional_arc_key"] == {"confusion_to_clarity": 34, "crisis_to_referral": 10}
    assert report.roles == {"system": 44, "user": 104, "assistant": 104}
    assert report.tokens is None and report.model_dump(mode="json")["ok"] is True


def test_a_stream_works_like_a_path() -> None:
    with EQ12.open("rb") as f:
        report = inspect_dataset(f, format="brightrun")
    assert (report.examples, report.conversations) == (44, 12)
