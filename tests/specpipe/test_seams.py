"""Chunk seams an LLM merge leaves in a spec: each is reported at its line, and segment loses nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.conservation import ContentLost, check_conservation, losses
from specpipe.plan_model import load_plan
from specpipe.segment_files import segment_to_files
from specpipe.spec_parser import parse_spec, parse_spec_file
from specpipe.validator import validate_spec

SEAMS = Path(__file__).parent / "fixtures" / "specs" / "seams-spec.md"
TEXT = SEAMS.read_text()


def line_of(needle: str, after: int = 0) -> int:
    """1-based line of the first line containing ``needle`` after 1-based line ``after``."""
    lines = TEXT.splitlines()
    return next(i + 1 for i in range(after, len(lines)) if needle in lines[i])


@pytest.mark.unit
def test_each_seam_is_reported_at_its_line() -> None:
    found = {(f.code, f.line) for f in validate_spec(parse_spec_file(SEAMS))}
    restart = line_of("### 2.1 Overview", line_of("### 2.1 Overview"))
    assert {
        # the SQL block of FR-1.1 is cut before "#### FR-1.2" (a requirement heading)
        ("UNCLOSED_FENCE", line_of("```sql")),
        ("CUT_LINE", line_of("score int not n")),
        # the hook of FR-1.3 is cut before "## SECTION 2" (a section heading)
        ("UNCLOSED_FENCE", line_of("```ts", line_of("#### FR-1.3"))),
        ("CUT_LINE", line_of("fetchAud")),
        # section 2 starts over after a line cut mid-word
        ("SECTION_RESTART", restart),
        ("CUT_LINE", line_of("writes the fi")),
        ("DUPLICATE_REQUIREMENT", line_of("#### FR-2.1", line_of("#### FR-2.1"))),
    } <= found
    # The appendix lists ids whose bodies exist (some were hidden by the open fences): no REQ_NO_BODY.
    assert not [c for c, _ in found if c == "REQ_NO_BODY"]


@pytest.mark.unit
def test_unclosed_fence_names_the_headings_it_would_swallow() -> None:
    spec = parse_spec_file(SEAMS)
    issue = next(i for i in spec.issues if i.code == "UNCLOSED_FENCE" and i.line > line_of("#### FR-1.3"))
    assert f"line {line_of('## SECTION 2')} '## SECTION 2: Audit Exports'" in issue.message
    assert [s.id for s in spec.sections] == ["E01", "E02", "E03"]
    bodies = {r.id: r for r in spec.requirements}
    assert sorted(bodies) == ["FR-1.1", "FR-1.2", "FR-1.3", "FR-2.1", "FR-2.2", "FR-3.1"]
    # FR-1.1 ends where the cut-off fence was closed; the fuller copy of FR-2.1 is the one kept.
    assert bodies["FR-1.1"].end_line < line_of("#### FR-1.2")
    assert "records its path" in bodies["FR-2.1"].text


@pytest.mark.integration
def test_segment_keeps_every_section_and_body_and_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    shutil.copy(SEAMS, spec)
    plan_path = tmp_path / "out" / "plan.yaml"
    result = CliRunner().invoke(app, ["segment", str(spec), "--plan", str(plan_path), "--budget", "4000"])
    assert result.exit_code == 1, result.output
    assert "UNCLOSED_FENCE" in result.output and "SECTION_RESTART" in result.output
    plan = load_plan(plan_path)
    assert [s.id for s in plan.sections] == ["E01", "E02", "E03"]
    homes = [rid for p in plan.prompts for rid in p.requirements]
    assert sorted(homes) == ["FR-1.1", "FR-1.2", "FR-1.3", "FR-2.1", "FR-2.2", "FR-3.1"]
    # The section-2 heading is no longer inside FR-1.3's prompt.
    fr13 = plan_path.parent / plan.prompt(next(p.id for p in plan.prompts if "FR-1.3" in p.requirements)).file
    assert "## SECTION 2" not in fr13.read_text() and "Export job" not in fr13.read_text()


@pytest.mark.unit
def test_conservation_check_names_what_a_plan_lost(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    shutil.copy(SEAMS, spec)
    plan_path = tmp_path / "plan.yaml"
    segment_to_files(spec, plan_path, 4000)
    parsed, plan = parse_spec_file(spec), load_plan(plan_path)
    assert losses(parsed, plan) == []
    owner = next(p for p in plan.prompts if "FR-2.2" in p.requirements)
    owner.requirements.remove("FR-2.2")
    plan.sections = [s for s in plan.sections if s.id != "E03"]
    lost = losses(parsed, plan)
    assert any(x.startswith("section E03") for x in lost) and any(x.startswith("FR-2.2") for x in lost)
    with pytest.raises(ContentLost, match=r"FR-2\.2 \(line"):
        check_conservation(parsed, plan)


@pytest.mark.unit
def test_fences_that_quote_headings_stay_code() -> None:
    text = (
        "# T\n\n## SECTION 1: A\n\n#### FR-1.1: One\n\n```markdown\n## SECTION 9: Example\n```\n\n"
        "```bash\n# FR-1.1: a comment\necho hi\n```\n"
    )
    spec = parse_spec(text)
    assert [s.id for s in spec.sections] == ["E01"]
    assert not [i for i in spec.issues if i.code == "UNCLOSED_FENCE"]


@pytest.mark.unit
def test_out_of_order_sections_and_requirements_are_reported() -> None:
    text = (
        "# T\n\n## SECTION 2: B\n\n#### FR-2.2: Later\n\nx.\n\n#### FR-2.1: Earlier\n\ny.\n\n"
        "## SECTION 1: A\n\n#### FR-1.1: One\n\nz.\n"
    )
    found = {(f.code, f.line) for f in validate_spec(parse_spec(text))}
    assert {("REQ_ORDER", 9), ("SECTION_ORDER", 13)} <= found


@pytest.mark.unit
def test_requirement_body_in_an_appendix_is_not_no_body() -> None:
    text = (
        "# T\n\n## SECTION 1: A\n\nSee FR-1.2.\n\n#### FR-1.1: One\n\nx.\n\n"
        "## APPENDIX\n\n#### FR-1.2: Stray\n\ny.\n\n- FR-1.3 nowhere\n"
    )
    found = {(f.code, f.line) for f in validate_spec(parse_spec(text))}
    assert ("REQ_NO_BODY", 5) not in found
    assert ("REQ_NO_BODY", 17) in found and ("REQ_OUTSIDE_SECTION", 13) in found
