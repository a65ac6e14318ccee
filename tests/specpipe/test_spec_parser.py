"""The markdown model: sections, ids, fences, preamble, appendices, acceptance criteria."""

from __future__ import annotations

from pathlib import Path

import pytest

from specpipe.spec_parser import parse_spec, parse_spec_file, section_identity

SPECS = Path(__file__).parent / "fixtures" / "specs"


@pytest.mark.unit
def test_sections_get_ids_and_ordering_keys_for_inserted_sections() -> None:
    spec = parse_spec_file(SPECS / "reports-spec.md")
    assert [(s.id, s.order_key, s.title) for s in spec.sections] == [
        ("E01", "001", "Foundation"),
        ("E02", "002", "Report API and Pages"),
        ("E02b", "002b", "Data Bridge"),
        ("X01", "X001", "Missing Pages"),
    ]
    assert section_identity("3b") == ("E03b", "003b")
    assert section_identity("X1") == ("X01", "X001")


@pytest.mark.unit
def test_headings_inside_code_fences_are_not_sections_or_requirements() -> None:
    spec = parse_spec_file(SPECS / "reports-spec.md")
    assert "E09" not in {s.id for s in spec.sections}
    assert "FR-9.9" not in {r.id for r in spec.requirements}
    assert all(rid != "FR-9.9" for rid, _ in spec.mentions)


@pytest.mark.unit
def test_preamble_and_appendices_are_kept_apart_from_sections() -> None:
    spec = parse_spec_file(SPECS / "reports-spec.md")
    assert "INTEGRATION SUMMARY" in spec.preamble.text
    assert [a.title for a in spec.appendices] == ["APPENDIX: Complete Feature List", "DOCUMENT STATUS"]
    last = spec.sections[-1]
    assert "APPENDIX" not in last.text and "Ready for segmentation" not in last.text
    # END OF SECTION 1 closes section 1 instead of starting an appendix.
    assert "What's available for subsequent sections" in spec.sections[0].text


@pytest.mark.unit
def test_requirements_two_and_three_levels_heading_and_bold_forms() -> None:
    notes = parse_spec_file(SPECS / "notes-spec.md")
    assert [r.id for r in notes.requirements] == [
        "FR-1.1.1",
        "FR-1.1.2",
        "FR-1.1.3",
        "FR-1.2.1",
        "FR-2.1",
        "FR-2.2",
    ]
    reports = parse_spec_file(SPECS / "reports-spec.md")
    bold = next(r for r in reports.requirements if r.id == "FR-3.1")
    assert bold.section_id == "X01" and "Card" in bold.text  # the indented continuation belongs to it


@pytest.mark.unit
def test_structure_plan_entries_do_not_become_sections() -> None:
    notes = parse_spec_file(SPECS / "notes-spec.md")
    # "### Section 1: Notes Core" sits in the preamble's plan; the real sections are the H2 ones.
    assert [(s.id, s.line) for s in notes.sections] == [("E01", 16), ("E02", 74)]
    assert "### Section 1: Notes Core" in notes.preamble.text


@pytest.mark.unit
def test_acceptance_criteria_are_taken_from_the_requirement() -> None:
    spec = parse_spec_file(SPECS / "reports-spec.md")
    by_id = {r.id: r for r in spec.requirements}
    assert by_id["FR-1.1"].acceptance == [
        "The migration applies cleanly on an empty database.",
        "A user can only select their own reports (RLS).",
    ]
    assert by_id["FR-2.4"].acceptance == ["The page lists the user's reports, newest first."]
    assert by_id["FR-2.3"].acceptance == []
    assert by_id["FR-1.1"].kind == "Data Model"


@pytest.mark.unit
def test_h3_section_variant_and_tilde_fences() -> None:
    text = "# T\n\nIntro.\n\n### Section 1 - Alpha\n\n~~~\n### Section 2: fake\n~~~\n\n### Section 2: Beta\n"
    spec = parse_spec(text)
    assert [(s.id, s.title) for s in spec.sections] == [("E01", "Alpha"), ("E02", "Beta")]
    assert spec.preamble.text.endswith("Intro.")


@pytest.mark.unit
def test_explicit_ordering_key_and_summary_bullets() -> None:
    text = (
        "# T\n\n## SECTION 1: One\n\n- **FR-1.1**: summary bullet\n\n#### FR-1.1: Full block\n\nBody.\n\n"
        "## SECTION X1: Late fix\n<!-- order: 001a -->\n\nText.\n\n## SECTION 2: Two\n\nText.\n"
    )
    spec = parse_spec(text)
    # The explicit key puts X01 between E01 and E02.
    assert [s.id for s in spec.sections] == ["E01", "X01", "E02"]
    # A summary bullet for a requirement that has its own block is a mention, not a second body.
    assert [(r.id, r.title) for r in spec.requirements] == [("FR-1.1", "Full block")]
    assert spec.issues == []
