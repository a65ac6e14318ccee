"""validate finds planted defects, each with its code and the exact line; a clean spec has no errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.findings import Finding
from specpipe.plan_model import load_plan
from specpipe.segment_files import segment_to_files
from specpipe.spec_parser import parse_spec, parse_spec_file
from specpipe.validator import validate_plan, validate_spec

SPEC = Path(__file__).parent / "fixtures" / "specs" / "reports-spec.md"


def line_of(text: str, needle: str, start: int = 0) -> int:
    """1-based line of the first line containing ``needle`` at or after line index ``start``."""
    lines = text.splitlines()
    return next(i + 1 for i in range(start, len(lines)) if needle in lines[i])


def codes(findings: list[Finding]) -> set[tuple[str, int]]:
    return {(f.code, f.line) for f in findings}


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "spec.md"
    shutil.copy(SPEC, spec)
    plan = tmp_path / "out" / "plan.yaml"
    plan.parent.mkdir()
    segment_to_files(spec, plan, 4000)
    return spec, plan


@pytest.mark.unit
def test_clean_spec_and_plan_have_no_findings(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    parsed = parse_spec_file(spec)
    assert validate_spec(parsed, ["Prisma", "NextAuth"]) == []
    assert validate_plan(load_plan(plan), plan, parsed) == []


@pytest.mark.unit
def test_requirement_listed_without_body() -> None:
    text = SPEC.read_text().replace(
        "- FR-3.1 Settings page", "- FR-3.1 Settings page\n- FR-4.2 Export history"
    )
    found = validate_spec(parse_spec(text, "spec.md"))
    assert ("REQ_NO_BODY", line_of(text, "FR-4.2 Export history")) in codes(found)


@pytest.mark.unit
def test_leftover_placeholder() -> None:
    text = SPEC.read_text().replace("Ready for segmentation.", "Owner: {{OWNER_NAME}}")
    found = validate_spec(parse_spec(text, "spec.md"))
    assert ("PLACEHOLDER", line_of(text, "{{OWNER_NAME}}")) in codes(found)


@pytest.mark.unit
def test_truncated_duplicate_section_header() -> None:
    seam = "## SECTION 2: Report API an"
    text = SPEC.read_text().replace("## END OF SECTION 1", f"{seam}\n\n## END OF SECTION 1")
    found = validate_spec(parse_spec(text, "spec.md"))
    line = line_of(text, seam)
    real = line_of(text, "## SECTION 2: Report API and Pages")
    # The cut-off copy is flagged where it is; the header after it is the repeat of section 2.
    assert {("TRUNCATED_HEADING", line), ("DUPLICATE_SECTION", real)} <= codes(found)
    assert all(f.severity == "error" for f in found if f.line in (line, real))


@pytest.mark.unit
def test_duplicated_requirement_body_and_repeated_heading() -> None:
    block = "#### FR-2.2: Get report endpoint\n\nAgain.\n\n### Overview (from original spec)\n\n"
    text = SPEC.read_text().replace("#### FR-2.3: Reports hook", block + "#### FR-2.3: Reports hook")
    found = codes(validate_spec(parse_spec(text, "spec.md")))
    first = line_of(text, "#### FR-2.2")
    assert ("DUPLICATE_REQUIREMENT", line_of(text, "#### FR-2.2", first)) in found
    second = line_of(text, "### Overview (from original spec)", line_of(text, "## SECTION 2"))
    second = line_of(text, "### Overview (from original spec)", second)
    assert ("DUPLICATE_HEADING", second) in found


@pytest.mark.unit
def test_forbidden_term_reported_but_not_when_rejected() -> None:
    text = SPEC.read_text().replace(
        "Ready for segmentation.",
        "Queries go through Prisma.\nDo not use NextAuth.\n```ts\nimport NextAuth from 'x'\n```",
    )
    found = [
        f
        for f in validate_spec(parse_spec(text, "spec.md"), ["Prisma", "NextAuth"])
        if f.code == "FORBIDDEN_TERM"
    ]
    assert [(f.line, "Prisma" in f.message) for f in found][:1] == [(line_of(text, "through Prisma"), True)]
    assert line_of(text, "Do not use NextAuth") not in {f.line for f in found}
    assert line_of(text, "import NextAuth") in {f.line for f in found}


def _edit_plan(plan: Path, prompt_id: str, field: str, new_value: str) -> int:
    """Replace one field of one prompt in the plan text; returns the edited line."""
    lines = plan.read_text().splitlines()
    start = lines.index(f"- id: {prompt_id}")
    k = next(i for i in range(start, len(lines)) if lines[i].startswith(f"  {field}:"))
    lines[k] = f"  {field}: {new_value}"
    plan.write_text("\n".join(lines) + "\n")
    return k + 1


@pytest.mark.unit
def test_dangling_dependency(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    line = _edit_plan(plan, "E02-P01", "depends_on", "[E01-P01, E09-P01]")
    found = validate_plan(load_plan(plan), plan, parse_spec_file(spec))
    assert codes([f for f in found if f.severity == "error"]) == {("DANGLING_DEPENDENCY", line)}
    # The plan changed but its prompt file was not re-rendered.
    assert ("PROMPT_OUTDATED", 1) in codes(found)


@pytest.mark.unit
def test_cycle_and_forward_dependency(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    line = _edit_plan(plan, "E01-P01", "depends_on", "[E02-P01]")
    found = validate_plan(load_plan(plan), plan, parse_spec_file(spec))
    assert ("CYCLE", line) in codes(found)
    assert ("FORWARD_DEPENDENCY", line) in codes(found)
    cycle = next(f for f in found if f.code == "CYCLE")
    assert "E01-P01" in cycle.message and "E02-P01" in cycle.message


@pytest.mark.unit
def test_requirement_in_two_prompts_and_unknown_requirement(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    line = _edit_plan(plan, "E02-P01", "requirements", "[FR-2.1, FR-2.2, FR-1.1, FR-7.7]")
    found = codes(validate_plan(load_plan(plan), plan, parse_spec_file(spec)))
    assert {("REQ_IN_MANY_PROMPTS", line), ("UNKNOWN_REQUIREMENT", line)} <= found


@pytest.mark.unit
def test_over_budget_and_placeholder_in_prompt_file(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    shutil.copy(SPEC, spec)
    plan = tmp_path / "plan.yaml"
    segment_to_files(spec, plan, 300)  # smaller than the fixed part of any prompt
    prompt_file = tmp_path / "prompts" / "E01-P01.md"
    prompt_file.write_text(prompt_file.read_text() + "\nSee {{INVENTORY_PATH}}\n")
    found = validate_plan(load_plan(plan), plan, parse_spec_file(spec))
    over = [f for f in found if f.code == "OVER_BUDGET"]
    assert len(over) == len(load_plan(plan).prompts)
    assert over[0].line == line_of(plan.read_text(), "tokens:", line_of(plan.read_text(), "- id: E01-P01"))
    placeholder = next(f for f in found if f.code == "PLACEHOLDER")
    assert (placeholder.file, placeholder.line) == (
        str(prompt_file),
        line_of(prompt_file.read_text(), "{{INVENTORY"),
    )


@pytest.mark.integration
def test_render_applies_plan_edits_to_the_prompt_files(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    _edit_plan(plan, "E02-P02", "title", "'Reports hook (renamed by hand)'")
    result = CliRunner().invoke(app, ["render", "--plan", str(plan)])
    assert result.exit_code == 0, result.output
    prompt = (plan.parent / "prompts" / "E02-P02.md").read_text()
    assert prompt.startswith("# E02-P02: Reports hook (renamed by hand)\n")
    assert validate_plan(load_plan(plan), plan, parse_spec_file(spec)) == []


@pytest.mark.integration
def test_cli_validate_exit_codes_and_json(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(spec), "--plan", str(plan)])
    assert ok.exit_code == 0, ok.output
    _edit_plan(plan, "E02-P01", "depends_on", "[E09-P01]")
    bad = runner.invoke(app, ["validate", str(spec), "--plan", str(plan), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["errors"] == 1
    assert report["findings"][0]["code"] == "DANGLING_DEPENDENCY"
    assert report["findings"][0]["file"] == str(plan)
    missing = runner.invoke(app, ["validate", str(spec.with_name("nope.md"))])
    assert missing.exit_code == 2


@pytest.mark.integration
def test_spec_without_sections_is_an_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    spec.write_text("# Title\n\n## Overview\n\nNo sections here.\n")
    assert codes(validate_spec(parse_spec_file(spec))) == {("NO_SECTIONS", 1)}
    result = CliRunner().invoke(app, ["segment", str(spec), "--plan", str(tmp_path / "plan.yaml")])
    assert result.exit_code == 2 and "no section headings found" in result.output


@pytest.mark.integration
def test_segment_records_a_forward_reference_and_validate_flags_it(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    spec.write_text(
        "# T\n\n## SECTION 1: A\n\n#### FR-1.1: First\n\nUses the export from FR-2.1.\n\n"
        "## SECTION 2: B\n\n#### FR-2.1: Second\n\nExports things.\n"
    )
    plan = tmp_path / "plan.yaml"
    segment_to_files(spec, plan, 4000)
    assert load_plan(plan).prompt("E01-P01").depends_on == ["E02-P01"]
    line = line_of(plan.read_text(), "depends_on:", line_of(plan.read_text(), "- id: E01-P01"))
    found = codes(validate_plan(load_plan(plan), plan, parse_spec_file(spec)))
    assert {("FORWARD_DEPENDENCY", line), ("CYCLE", line)} <= found
