"""validate checks the spec against the inventory: tables, routes and buckets nobody creates.

``fixtures/specs/inventory-check-spec.md`` is written against ``fixtures/codebases/monorepo``: it
references and queries ``lora_datasets`` (the migrations create ``datasets``), downloads from a
``dataset-files`` bucket (the codebase has ``datasets`` and ``avatars``), and fetches a preview
route that does not exist. Everything else it uses exists in the codebase or is created by the spec
itself (``training_runs``, the ``adapters`` bucket, ``POST /api/training/runs``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.inventory import scan_codebase
from specpipe.inventory_checks import check_against_inventory, closest, normalise_route
from specpipe.spec_parser import parse_spec, parse_spec_file

HERE = Path(__file__).parent
SPEC = HERE / "fixtures" / "specs" / "inventory-check-spec.md"
CODEBASE = HERE / "fixtures" / "codebases" / "monorepo"


def line_of(needle: str) -> int:
    return next(i + 1 for i, line in enumerate(SPEC.read_text().splitlines()) if needle in line)


@pytest.fixture(scope="module")
def inventory() -> dict[str, object]:
    return scan_codebase(CODEBASE)


@pytest.mark.unit
def test_missing_table_route_and_bucket_with_line_and_suggestion(inventory: dict[str, object]) -> None:
    found = check_against_inventory(parse_spec_file(SPEC), inventory)
    assert [(f.code, f.line) for f in found] == [
        ("TABLE_NOT_FOUND", line_of("references lora_datasets")),
        ("BUCKET_NOT_FOUND", line_of("storage.from('dataset-files')")),
        ("ROUTE_NOT_FOUND", line_of("/preview")),
    ]
    table, bucket, route = (f.message for f in found)
    assert "table 'lora_datasets'" in table and "did you mean 'datasets' (supabase/migrations/" in table
    assert "bucket 'dataset-files'" in bucket and "did you mean 'datasets'" in bucket
    assert "did you mean '/api/datasets/[id]' (app/api/datasets/[id]/route.ts)" in route
    assert all(f.severity == "error" for f in found)


@pytest.mark.unit
def test_what_the_spec_creates_or_the_codebase_has_is_not_reported(inventory: dict[str, object]) -> None:
    spec = (
        "# S\n\n## SECTION 1: A\n\n#### FR-1.1: Jobs\n\n**Type**: API Endpoint\n\n"
        "`GET /api/jobs` lists jobs.\n\n"
        "```sql\ncreate table jobs (id int, profile_id uuid references profiles (id));\n"
        "insert into storage.buckets (id, name) values ('exports', 'exports');\n"
        "select * from jobs join training_jobs on true;\n```\n\n"
        "#### FR-1.2: Page\n\n**Type**: UI Component\n\n"
        "It reads every row of the matching table, then a table of totals, and updates the table.\n"
        "It reads from the datasets table and the `avatars` bucket, calls GET /api/jobs and\n"
        "`fetch('/api/datasets/' + id)`, `fetch(`/api/datasets/${id}`)` and GET /api/profile.\n"
        "```ts\nsupabase.storage.from('exports').upload(p, f); supabase.from('documents').select();\n"
        "supabase.from('jobs').select('*, auth.users(email)');\n"
        'router.push(\'/datasets/\' + id); redirect(`/datasets/${id}`); <Link href="/dashboard"><img src="/logo.png"/>\n```\n'
    )
    assert check_against_inventory(parse_spec(spec, "s.md"), inventory) == []


@pytest.mark.unit
def test_prose_that_reads_a_missing_table_is_reported(inventory: dict[str, object]) -> None:
    spec = "# S\n\n## SECTION 1: A\n\nThe report reads from the `lora_jobs` table every hour.\n"
    found = check_against_inventory(parse_spec(spec, "s.md"), inventory)
    assert [(f.code, f.line) for f in found] == [("TABLE_NOT_FOUND", 5)]
    assert "did you mean 'training_jobs'" in found[0].message


@pytest.mark.unit
def test_route_normalisation_and_suggestions() -> None:
    assert normalise_route("/api/jobs/${job.id}/") == "/api/jobs/{}"
    assert normalise_route("/api/jobs/[id]") == normalise_route("/api/jobs/:id") == "/api/jobs/{}"
    assert (
        closest("lora_datasets", {"datasets": "m.sql:3", "profiles": ""})
        == "; did you mean 'datasets' (m.sql:3)?"
    )
    assert closest("zzz", {"datasets": ""}) == ""


@pytest.mark.integration
def test_validate_reports_them_with_inventory(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "x.toml").write_text('[project]\nname = "X"\n')  # its out dir holds no inventory
    inv = tmp_path / "inv.json"
    made = runner.invoke(app, ["inventory", str(CODEBASE), "--out", str(inv)])
    assert made.exit_code == 0, made.output
    assert "app apps/web:" in made.output and "ignored archive/" in made.output
    result = runner.invoke(
        app, ["validate", str(SPEC), "--inventory", str(inv), "--config", str(tmp_path / "x.toml")]
    )
    assert result.exit_code == 1, result.output
    assert (
        f"inventory-check-spec.md:{line_of('references lora_datasets')}: error TABLE_NOT_FOUND"
        in result.output
    )
    assert "ROUTE_NOT_FOUND" in result.output and "BUCKET_NOT_FOUND" in result.output
    as_json = runner.invoke(
        app, ["validate", str(SPEC), "--inventory", str(inv), "--json", "--config", str(tmp_path / "x.toml")]
    )
    codes = sorted(f["code"] for f in json.loads(as_json.output)["findings"])
    assert codes == ["BUCKET_NOT_FOUND", "ROUTE_NOT_FOUND", "TABLE_NOT_FOUND"]
    plain = runner.invoke(app, ["validate", str(SPEC), "--config", str(tmp_path / "x.toml")])
    assert plain.exit_code == 0, plain.output  # without an inventory only the spec itself is checked
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    bad = runner.invoke(
        app, ["validate", str(SPEC), "--inventory", str(broken), "--config", str(tmp_path / "x.toml")]
    )
    assert bad.exit_code == 2 and "not an inventory" in bad.output


@pytest.mark.integration
def test_segment_runs_the_same_checks_when_the_inventory_exists(tmp_path: Path) -> None:
    runner = CliRunner()
    init = ["init", str(tmp_path), "--name", "Runs", "--abbrev", "runs", "--codebase", str(CODEBASE)]
    assert runner.invoke(app, [*init, "--spec", str(SPEC)]).exit_code == 0
    cfg = ["--config", str(tmp_path / "specpipe.toml")]
    assert runner.invoke(app, ["inventory", *cfg]).exit_code == 0
    result = runner.invoke(app, ["segment", str(SPEC), *cfg])
    assert result.exit_code == 1, result.output
    assert f":{line_of('references lora_datasets')}: error TABLE_NOT_FOUND" in result.output
    assert "checked against" in result.output


@pytest.mark.unit
def test_navigation_to_a_missing_page_is_reported(inventory: dict[str, object]) -> None:
    spec = '# S\n\n## SECTION 1: A\n\n```tsx\n<Link href="/runs/history">History</Link>\n```\n'
    found = check_against_inventory(parse_spec(spec, "s.md"), inventory)
    assert [(f.code, f.line) for f in found] == [("ROUTE_NOT_FOUND", 6)]
