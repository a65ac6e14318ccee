"""status / done / init, and re-segmenting keeps the status of unchanged prompts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.plan_model import load_plan
from specpipe.project_config import load_config

SPEC = Path(__file__).parent / "fixtures" / "specs" / "reports-spec.md"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with specpipe.toml pointing at a copy of the sample spec as the integrated spec."""
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(tmp_path), "--name", "Acme Reports", "--abbrev", "reports"])
    assert result.exit_code == 0, result.output
    shutil.copy(SPEC, tmp_path / "spec.md")
    return tmp_path


def run(project: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(project / "specpipe.toml")])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.integration
def test_init_writes_a_config_every_command_reads(project: Path) -> None:
    cfg = load_config(project / "specpipe.toml")
    assert (cfg.name, cfg.abbrev, cfg.prompt_tokens) == ("Acme Reports", "reports", 8000)
    assert cfg.output("plan") == project / "specpipe-out" / "reports-plan.yaml"
    assert "Prisma" in cfg.substitutions
    again = CliRunner().invoke(app, ["init", str(project)])
    assert again.exit_code == 2 and "exists" in again.output


@pytest.mark.integration
def test_done_then_resegment_keeps_unchanged_and_flags_changed(project: Path) -> None:
    spec = project / "spec.md"
    run(project, "segment", str(spec))
    plan_path = project / "specpipe-out" / "reports-plan.yaml"
    run(project, "done", "E01-P01")
    run(project, "done", "E02-P01")
    out = run(project, "status")
    assert "E01-P01    done" in out and "ready next: E02-P02" in out

    # Change FR-2.1 (in E02-P01) only.
    spec.write_text(
        spec.read_text().replace("Returns 201 with the new report.", "Returns 201 and a Location header.")
    )
    out = run(project, "segment", str(spec))
    assert "E02-P01: changed after it was done; marked stale" in out
    states = {p.id: p.status for p in load_plan(plan_path).prompts}
    assert states["E01-P01"] == "done"
    assert states["E02-P01"] == "stale"
    assert states["E02-P02"] == "pending"

    result = CliRunner().invoke(app, ["validate", str(spec), "--config", str(project / "specpipe.toml")])
    assert result.exit_code == 0  # stale is a warning
    assert "STALE_PROMPT" in result.output


@pytest.mark.integration
def test_done_unknown_prompt_is_a_clear_error(project: Path) -> None:
    run(project, "segment", str(project / "spec.md"))
    result = CliRunner().invoke(app, ["done", "E42-P01", "--config", str(project / "specpipe.toml")])
    assert result.exit_code == 2
    assert "no prompt 'E42-P01'" in result.output


@pytest.mark.integration
def test_context_file_is_pasted_into_every_prompt_and_kept_by_render(project: Path) -> None:
    tool = project / "docs" / "db-tool.md"
    tool.parent.mkdir()
    tool.write_text("# DB tool\n\nRun `npm run db:query -- <sql>` to inspect tables.\n")
    cfg = project / "specpipe.toml"
    cfg.write_text(cfg.read_text().replace("context = []", 'context = ["docs/db-tool.md"]'))
    run(project, "segment", str(project / "spec.md"))
    plan_path = project / "specpipe-out" / "reports-plan.yaml"
    plan = load_plan(plan_path)
    assert plan.context_files == ["../docs/db-tool.md"]
    for p in plan.prompts:
        text = (plan_path.parent / p.file).read_text()
        assert "## Context: db-tool.md\n\n### DB tool\n\nRun `npm run db:query" in text
    run(project, "render")
    assert "Run `npm run db:query" in (plan_path.parent / plan.prompts[-1].file).read_text()
    tool.unlink()
    result = CliRunner().invoke(app, ["validate", str(project / "spec.md"), "--config", str(cfg)])
    assert result.exit_code == 1 and "CONTEXT_MISSING" in result.output
