"""Bad input is one clear line naming the file and line, exit 2, never a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.forbidden_terms import apply_substitutions, find_terms
from specpipe.segment_files import segment_to_files

SPEC = Path(__file__).parent / "fixtures" / "specs" / "reports-spec.md"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def clean_exit(result: Result, code: int) -> str:
    """The output of a run that exited with ``code`` through the CLI, not through an exception."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "spec.md"
    shutil.copy(SPEC, spec)
    plan = tmp_path / "plan.yaml"
    segment_to_files(spec, plan, 4000)
    return spec, plan


@pytest.mark.integration
def test_latin1_and_binary_specs(tmp_path: Path) -> None:
    latin = tmp_path / "latin.md"
    latin.write_bytes(b"# T\n\n## SECTION 1: A\n\nCaf\xe9 r\xe9sum\xe9\n")
    out = clean_exit(run("validate", str(latin)), 2)
    assert f"{latin}:5: not UTF-8 text (byte 0xe9 at offset 25)" in out
    out = clean_exit(run("merge", "--substitute", str(latin), "--out", str(tmp_path / "o.md")), 2)
    assert f"{latin}:5: not UTF-8" in out and not (tmp_path / "o.md").exists()
    binary = tmp_path / "bin.md"
    binary.write_bytes(b"# T\n\x00\x01\x02")
    assert f"{binary}:2: a binary file" in clean_exit(
        run("segment", str(binary), "--plan", str(tmp_path / "p.yaml")), 2
    )


@pytest.mark.integration
def test_broken_plan_yaml_names_the_line(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    plan.write_text(plan.read_text().replace("title:", "title: [unclosed", 1))
    line = next(i + 1 for i, x in enumerate(plan.read_text().splitlines()) if "[unclosed" in x)
    for command in ("validate", "render", "status"):
        args = (
            [command, str(spec), "--plan", str(plan)]
            if command == "validate"
            else [command, "--plan", str(plan)]
        )
        out = clean_exit(run(*args), 2)
        assert re.search(rf"{re.escape(str(plan))}:{line}(\D|$)", out) or f"{plan}:{line + 1}" in out, out
        assert "invalid YAML" in out


@pytest.mark.integration
def test_wrong_type_in_plan_names_the_field_and_line(planned: tuple[Path, Path]) -> None:
    spec, plan = planned
    text = plan.read_text()
    head = text[: text.index("prompts:")]
    plan.write_text(head + "prompts: 5\n")
    line = head.count("\n") + 1
    out = clean_exit(run("validate", str(spec), "--plan", str(plan)), 2)
    assert f"{plan}:{line}: prompts: Input should be a valid list" in out
    out = clean_exit(run("done", "E01-P01", "--plan", str(plan)), 2)
    assert f"{plan}:{line}: prompts" in out


@pytest.mark.integration
def test_unsafe_abbrev_is_refused(tmp_path: Path) -> None:
    out = clean_exit(run("init", str(tmp_path / "p"), "--name", "X", "--abbrev", "../../x y"), 2)
    assert "--abbrev '../../x y' must be letters, digits" in out
    assert not (tmp_path / "p" / "specpipe.toml").exists()
    cfg = tmp_path / "specpipe.toml"
    cfg.write_text('[project]\nname = "X"\nabbrev = "../evil"\n')
    out = clean_exit(run("validate", "--config", str(cfg)), 2)
    assert "abbrev" in out and "'../evil'" in out


@pytest.mark.integration
@pytest.mark.parametrize("budget", ["0", "-5"])
def test_budget_must_be_positive(planned: tuple[Path, Path], budget: str) -> None:
    spec, plan = planned
    before = plan.read_text()
    out = clean_exit(run("segment", str(spec), "--plan", str(plan), "--budget", budget), 2)
    assert "--budget" in out and plan.read_text() == before
    clean_exit(run("inventory", str(spec.parent), "--budget", budget), 2)


@pytest.mark.integration
def test_render_refuses_a_self_dependent_prompt(planned: tuple[Path, Path]) -> None:
    _, plan = planned
    text = plan.read_text()
    start = text.index("- id: E02-P01")
    at = text.index("depends_on: [", start)
    plan.write_text(text[:at] + "depends_on: [E02-P01, " + text[at + len("depends_on: [") :])
    line = text[:at].count("\n") + 1
    prompt = plan.parent / "prompts" / "E02-P01.md"
    before = prompt.read_text()
    out = clean_exit(run("render", "--plan", str(plan)), 2)
    assert f"line {line}: SELF_DEPENDENCY: E02-P01 depends on itself" in out
    assert prompt.read_text() == before


@pytest.mark.integration
def test_segment_over_budget_exits_1_and_names_what_cannot_be_split(tmp_path: Path) -> None:
    spec = tmp_path / "spec.md"
    shutil.copy(SPEC, spec)
    out = clean_exit(run("segment", str(spec), "--plan", str(tmp_path / "plan.yaml"), "--budget", "300"), 1)
    assert "OVER_BUDGET" in out and "cannot be split further" in out


@pytest.mark.unit
def test_lines_describing_a_replacement_are_neither_reported_nor_rewritten() -> None:
    text = (
        "**Original Infrastructure**: Prisma + NextAuth\n"
        "Reason for change: Prisma is not in the codebase\n"
        "- Replaces S3 uploads with storage buckets\n"
        "Queries use the client instead of Prisma.\n"
        "Queries go through Prisma.\n"
    )
    table = {"Prisma": "the existing client", "NextAuth": "the auth helpers", "S3": "the buckets"}
    hits = find_terms(text.splitlines(), list(table))
    assert [(h.line, h.term) for h in hits] == [(5, "Prisma")]
    rewritten, counts = apply_substitutions(text, table)
    assert rewritten.splitlines()[:4] == text.splitlines()[:4]
    assert rewritten.splitlines()[4] == "Queries go through the existing client." and counts == {"Prisma": 1}


@pytest.mark.integration
def test_latin1_config_and_merge_spec(tmp_path: Path) -> None:
    cfg = tmp_path / "specpipe.toml"
    cfg.write_bytes(b'[project]\nname = "Caf\xe9"\n')
    assert f"{cfg}:2: not UTF-8" in clean_exit(run("status", "--config", str(cfg)), 2)
    spec = tmp_path / "spec.md"
    spec.write_bytes(b"# T\n\xff\n")
    doc = tmp_path / "doc.md"
    doc.write_text("# Doc\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "specpipe.toml").write_text('[project]\nname = "X"\n')  # inventory stays in tmp_path
    args = ["merge", str(spec), "--doc", str(doc), "--out", str(tmp_path / "m.md")]
    out = clean_exit(run(*args, "--config", str(project / "specpipe.toml")), 2)
    assert f"{spec}:2: not UTF-8" in out
