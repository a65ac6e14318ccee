"""Golden tests: segment reproduces the committed plan, prompts, appendices and index exactly.

Regenerate after an intended change with ``.venv/bin/python tests/specpipe/test_segment_golden.py``
and review the diff before committing it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from specpipe.segment_files import segment_to_files

HERE = Path(__file__).parent
CASES = {"reports": ("reports-spec.md", 4000), "notes": ("notes-spec.md", 650)}


def build(root: Path, case: str) -> Path:
    """Segment a case into ``root/golden/<case>``, the spec at ``root/fixtures/specs`` as in the repo."""
    spec_name, budget = CASES[case]
    spec = root / "fixtures" / "specs" / spec_name
    if root != HERE:
        spec.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "fixtures" / "specs" / spec_name, spec)
    out = root / "golden" / case
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    segment_to_files(spec, out / "plan.yaml", budget)
    return out


@pytest.mark.unit
@pytest.mark.parametrize("case", sorted(CASES))
def test_segment_matches_golden(tmp_path: Path, case: str) -> None:
    out = build(tmp_path, case)
    expected_dir = HERE / "golden" / case
    produced = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(expected_dir).as_posix() for p in expected_dir.rglob("*") if p.is_file())
    assert produced == expected
    for name in produced:
        assert (out / name).read_text() == (expected_dir / name).read_text(), f"{case}/{name} differs"


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(CASES):
        print(build(HERE, name))
