"""Manifest verification and reading the engine's event stream from a file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from lorapipe.backends.local import process_start_ticks, read_events
from lorapipe.errors import IntegrityError
from lorapipe.jobs.artifacts import VerifiedArtifacts, verify_artifacts
from lorapipe.storage import ObjectStore

pytestmark = pytest.mark.unit


ADAPTER = {"adapter_model.safetensors": b"w" * 10, "adapter_config.json": b"{}", "card.md": b"# card"}


def write_run(out: Path, files: dict[str, bytes], **override: object) -> None:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, data in files.items():
        (out / name).write_bytes(data)
        entry = {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        entries.append({**entry, **override.get(name, {})})  # type: ignore[dict-item]
    (out / "manifest.json").write_text(json.dumps({"files": entries}))


def verify(tmp_path: Path) -> VerifiedArtifacts:
    return verify_artifacts(ObjectStore(tmp_path.as_uri()), "run")


def test_verified_run_reports_every_file(tmp_path: Path) -> None:
    write_run(tmp_path / "run", ADAPTER)
    verified = verify(tmp_path)
    assert verified.files == {"adapter_model.safetensors": 10, "adapter_config.json": 2, "card.md": 6}
    assert verified.total_bytes == 18 and verified.prefix == "run"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda out: (out / "card.md").unlink(), "missing"),
        (lambda out: (out / "card.md").write_bytes(b"# card!"), "bytes"),
        (lambda out: (out / "card.md").write_bytes(b"# cart"), "sha256"),
        (lambda out: (out / "manifest.json").unlink(), "no manifest.json"),
        (lambda out: (out / "manifest.json").write_text("{"), "not valid JSON"),
        (lambda out: (out / "manifest.json").write_text('{"files": []}'), "lists no files"),
        (
            lambda out: (out / "manifest.json").write_text(
                json.dumps(
                    {
                        "files": [
                            {"path": name, "size": 1, "sha256": "0" * 64}
                            for name in ("adapter_model.safetensors", "adapter_config.json", "../x")
                        ]
                    }
                )
            ),
            "outside",
        ),
    ],
)
def test_any_artifact_problem_is_an_integrity_error(tmp_path: Path, change, message: str) -> None:
    write_run(tmp_path / "run", ADAPTER)
    change(tmp_path / "run")
    with pytest.raises(IntegrityError, match=message):
        verify(tmp_path)


@pytest.mark.parametrize("left_out", ["adapter_config.json", "adapter_model.safetensors"])
def test_a_manifest_without_a_loadable_adapter_is_refused(tmp_path: Path, left_out: str) -> None:
    """Checksums can all match and still leave nothing PEFT can load: that is not a success."""
    write_run(tmp_path / "run", {k: v for k, v in ADAPTER.items() if k != left_out})
    with pytest.raises(IntegrityError, match="no loadable adapter"):
        verify(tmp_path)


def test_read_events_leaves_a_partial_line_for_later(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"seq":1,"type":"stage"}\nnot json\n{"seq":"2","type":"x"}\n{"seq":3,"ty')
    events, offset = read_events(path, 0)
    assert [e["seq"] for e in events] == [1]
    assert offset == path.read_bytes().rindex(b"\n") + 1
    with path.open("ab") as handle:
        handle.write(b'pe":"metrics"}\n')
    more, offset2 = read_events(path, offset)
    assert [e["seq"] for e in more] == [3] and offset2 == path.stat().st_size
    assert read_events(path, offset2) == ([], offset2)
    assert read_events(tmp_path / "absent", 0) == ([], 0)


def test_process_start_ticks_identifies_a_live_process() -> None:
    assert isinstance(process_start_ticks(os.getpid()), int)
    assert process_start_ticks(2**22 + 11) is None
