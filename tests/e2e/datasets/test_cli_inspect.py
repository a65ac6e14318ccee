"""`lorapipe datasets inspect` as a user runs it: exit codes, JSON shape, no tracebacks on bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[3]
EQ12 = ROOT / "src/lorapipe/samples/eq12"
BROKEN = ROOT / "tests/fixtures/datasets/broken"

# file -> (first problem code, its line): each broken file names what is wrong and where.
EXPECTED = {
    "bad_utf8.jsonl": ("not_utf8", 3),
    "empty.jsonl": ("empty_file", None),
    "empty_assistant.jsonl": ("empty_assistant", 1),
    "malformed_array.json": ("invalid_json", 3),
    "missing_fields.jsonl": ("missing_field", 2),
    "mixed_formats.jsonl": ("mixed_formats", 2),
    "not_json.txt": ("invalid_json", 1),
    "nothing_to_train.jsonl": ("nothing_to_train", 1),
    "truncated.jsonl": ("truncated_json", 3),
    "truncated_array.json": ("truncated_json", 4),
    "wrong_roles.json": ("unknown_role", 14),
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lorapipe.cli.main", "datasets", "inspect", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_broken_file_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_gives_named_error_with_location_and_exit_1(name: str) -> None:
    proc = run(str(BROKEN / name), "--no-tokens", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["errors"] >= 1
    first = report["problems"][0]
    assert (first["code"], first["line"]) == EXPECTED[name]
    assert first["suggestion"]


def test_truncated_file_still_counts_complete_records() -> None:
    report = json.loads(run(str(BROKEN / "truncated_array.json"), "--no-tokens", "--json").stdout)
    assert report["examples"] == 2 and report["complete"] is False


@pytest.mark.parametrize("name", ["EQ-12-conversations-demo.json", "EQ-12-conversations-demo.jsonl"])
def test_eq12_inspect_json(name: str) -> None:
    proc = run(str(EQ12 / name), "--no-tokens", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["examples"], report["conversations"], report["errors"]) == (44, 12, 0)
    assert report["format"].startswith("brightrun-lora-v4")


def test_human_output_and_usage_errors() -> None:
    proc = run(str(BROKEN / "wrong_roles.json"), "--no-tokens")
    assert proc.returncode == 1 and "unknown_role" in proc.stdout and "wizard" in proc.stdout
    proc = run(str(EQ12 / "EQ-12-conversations-demo.jsonl"), "--format", "csv", "--no-tokens")
    assert (
        proc.returncode == 2 and "[unknown_dataset_format]" in proc.stderr and "Traceback" not in proc.stderr
    )
    proc = run("/nonexistent/file.jsonl")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_json_report_with_real_tokenizer(tmp_path: Path) -> None:
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lorapipe.cli.main",
            "datasets",
            "inspect",
            str(EQ12 / "EQ-12-conversations-demo.json"),
            "--json",
            "--max-length",
            "2048",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert (r["format"], r["conversations"], r["examples"]) == ("brightrun-lora-v4", 12, 44)
    assert (r["errors"], r["warnings"]) == (0, r["tokens"]["over_max_length"])
    tokens = r["tokens"]
    assert tokens["tokenizer"] == "Qwen/Qwen3-8B" and 0 < tokens["trained"] < tokens["total"]
    assert set(tokens["percentiles"]) == {"min", "p50", "p90", "p95", "p99", "max"}
