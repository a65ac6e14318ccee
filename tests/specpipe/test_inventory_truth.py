"""Inventory against hand-written truth: precision and recall per category, and the blueprint's choices.

``fixtures/codebases/monorepo`` is a shadcn/Supabase repository root as found in the wild: the app
in ``apps/web`` (a ui kit with trailing export lists, two client modules with many importers, a
service-role client used by one script, an ``AuthService`` class, a storage service object, SQL
dumps in ``scripts/`` and ``src/``, migrations in ``supabase/migrations``), a second app, an old
copy and a zip. ``fixtures/codebases/py-service`` is the FastAPI/SQLAlchemy/alembic counterpart.
The truth files under ``fixtures/truth`` were written by reading the fixtures, not generated.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.inventory import scan_codebase
from specpipe.inventory.decisions import decisions

HERE = Path(__file__).parent
CODEBASES = HERE / "fixtures" / "codebases"
TRUTH = HERE / "fixtures" / "truth"
FIXTURES = ("monorepo", "py-service")
CATEGORIES = ("exports", "db_clients", "auth_helpers", "storage_helpers", "migrations", "tables", "buckets")
THRESHOLD = 0.95


@cache
def inventory(name: str) -> dict[str, Any]:
    return scan_codebase(CODEBASES / name)


def truth(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TRUTH / f"{name}.json").read_text())
    return data


def found(inv: dict[str, Any], category: str) -> set[str]:
    """What the inventory reports for a category, in the truth file's notation."""
    if category == "exports":
        return {f"{m['file']}#{s['name']}" for m in inv["exports"] for s in m["symbols"]}
    if category == "db_clients":
        return {c["file"] for c in inv["database"]["clients"]}
    if category == "auth_helpers":
        return {f"{h['file']}#{h['name']}" for h in inv["auth"]["helpers"]}
    if category == "storage_helpers":
        return {f"{h['file']}#{h['name']}" for h in inv["storage"]["helpers"]}
    if category == "migrations":
        return {m["dir"] for m in inv["database"]["migrations"]}
    if category == "tables":  # a table and each of its columns count
        return {t["name"] for t in inv["database"]["tables"]} | {
            f"{t['name']}.{c}" for t in inv["database"]["tables"] for c in t["columns"]
        }
    if category == "buckets":
        return {b["name"] for b in inv["storage"]["buckets"]}
    raise AssertionError(category)


def expected(t: dict[str, Any], category: str) -> set[str]:
    if category == "tables":
        return set(t["tables"]) | {f"{name}.{c}" for name, cols in t["tables"].items() for c in cols}
    return set(t[category])


def precision_recall(got: set[str], want: set[str]) -> tuple[float, float]:
    hits = len(got & want)
    precision = hits / len(got) if got else float(not want)
    recall = hits / len(want) if want else 1.0
    return precision, recall


def scores(name: str) -> dict[str, tuple[float, float]]:
    inv, t = inventory(name), truth(name)
    return {c: precision_recall(found(inv, c), expected(t, c)) for c in CATEGORIES}


@pytest.mark.unit
@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("category", CATEGORIES)
def test_precision_and_recall_per_category(name: str, category: str) -> None:
    inv, t = inventory(name), truth(name)
    got, want = found(inv, category), expected(t, category)
    precision, recall = precision_recall(got, want)
    assert precision >= THRESHOLD and recall >= THRESHOLD, (
        f"{name} {category}: precision {precision:.2f}, recall {recall:.2f}; "
        f"false: {sorted(got - want)}; missed: {sorted(want - got)}"
    )


@pytest.mark.unit
@pytest.mark.parametrize("name", FIXTURES)
def test_the_app_is_picked_and_archives_ignored(name: str) -> None:
    inv, t = inventory(name), truth(name)
    assert inv["app"]["root"] == t["app"]
    assert sorted(inv["app"]["ignored"]) == sorted(t["ignored"])
    text = json.dumps(inv)
    for leak in ("LegacyAuthService", "lora_datasets_v1", "getAdminSession", "legacy_user"):
        assert leak not in text  # nothing from the old copies or the second app leaked in


@pytest.mark.unit
@pytest.mark.parametrize("name", FIXTURES)
def test_decisions_take_the_top_ranked_evidence(name: str) -> None:
    rows = {r["area"]: r for r in decisions(inventory(name))}
    for area, choice in truth(name)["decisions"].items():
        assert rows[area]["choice"] == choice, f"{area}: {rows[area]}"
        assert rows[area]["evidence"], area  # every choice shows why


@pytest.mark.unit
def test_every_entry_carries_evidence_and_a_confidence() -> None:
    inv = inventory("monorepo")
    entries = (
        inv["database"]["clients"]
        + inv["auth"]["helpers"]
        + inv["storage"]["helpers"]
        + inv["database"]["migrations"]
    )
    for e in entries:
        assert e["confidence"] in ("high", "medium", "low") and e["evidence"], e
    auth = inv["auth"]["helpers"][0]
    assert auth["evidence"][0] == "lib/auth/auth-service.ts:10: getCurrentUser: .auth.getUser("
    assert auth["members"] == ["getCurrentUser", "getSession"]
    client = inv["database"]["clients"][0]
    assert client["evidence"][:2] == [
        "lib/supabase/server.ts:9: createServerClient() from @supabase/ssr",
        "imported by 8 files",
    ]
    assert [c["role"] for c in inv["database"]["clients"]] == ["server", "browser", "admin"]
    assert [x["file"] for x in inv["database"]["sql_outside_migrations"]] == [
        "scripts/dump.sql",
        "src/sql/verify_rls.sql",
    ]


@pytest.mark.integration
def test_blueprint_table_shows_the_choices_and_their_evidence(tmp_path: Path) -> None:
    shutil.copytree(CODEBASES / "monorepo", tmp_path / "repo")
    (tmp_path / "spec.md").write_text("# Spec\n\n## SECTION 1: Jobs\n\nText.\n")
    runner = CliRunner()
    init = [
        "init",
        str(tmp_path),
        "--name",
        "Jobs",
        "--abbrev",
        "jobs",
        "--codebase",
        "repo",
        "--spec",
        "spec.md",
    ]
    assert runner.invoke(app, init).exit_code == 0
    result = runner.invoke(app, ["blueprint", "--config", str(tmp_path / "specpipe.toml")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "specpipe-out" / "jobs-blueprint-prompt.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert (
        "`class AuthService { getCurrentUser(), getSession(), signOut() }` from `lib/auth/auth-service.ts:4`"
        in rows["Authentication"]
    )
    assert "AuthService imported by 4 files" in rows["Authentication"]
    assert (
        "`async createClient()` from `lib/supabase/server.ts` (supabase, server)" in rows["Database access"]
    )
    assert "never the service-role client in `lib/supabase/admin.ts`" in rows["Database access"]
    assert "new migrations in `supabase/migrations`" in rows["Database schema"]
    assert "`storageService { upload(), signedUrl(), remove() }`" in rows["File storage"]
    assert "buckets `avatars`, `datasets`" in rows["File storage"]
    assert "initializeDatabase" not in text.split("## What the codebase already has")[0]
    assert "app folder `apps/web`" in text


if __name__ == "__main__":
    for fixture in FIXTURES:
        for category, (p, r) in scores(fixture).items():
            print(f"{fixture:11} {category:16} precision {p:.2f} recall {r:.2f}")


@pytest.mark.unit
def test_regex_fallback_without_tree_sitter_keeps_the_essentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the wheels are missing: file-level reading, so weaker, but clients, storage, migrations hold."""
    import specpipe.inventory.ts_parse as ts_parse

    monkeypatch.setattr(ts_parse, "tree_sitter", None)
    inv, t = scan_codebase(CODEBASES / "monorepo"), truth("monorepo")
    for category in ("db_clients", "storage_helpers", "migrations", "tables", "buckets"):
        assert precision_recall(found(inv, category), expected(t, category)) == (1.0, 1.0), category
    _precision, recall = precision_recall(found(inv, "exports"), expected(t, "exports"))
    assert recall >= 0.9  # trailing export lists are read by the fallback too
    assert {"components/ui/button.tsx#Button", "components/ui/card.tsx#CardTitle"} <= found(inv, "exports")


@pytest.mark.integration
def test_app_option_overrides_the_choice(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "inv.json"
    result = runner.invoke(
        app, ["inventory", str(CODEBASES / "monorepo"), "--app", "apps/admin", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    inv = json.loads(out.read_text())
    assert inv["app"]["root"] == "apps/admin" and inv["app"]["reason"] == "given with --app or [paths] app"
    assert [c["file"] for c in inv["database"]["clients"]] == ["lib/supabase.ts"]
    missing = runner.invoke(
        app, ["inventory", str(CODEBASES / "monorepo"), "--app", "apps/nope", "--out", str(out)]
    )
    assert missing.exit_code == 2 and "app folder not found" in missing.output


@pytest.mark.integration
def test_app_folder_from_the_project_file(tmp_path: Path) -> None:
    runner = CliRunner()
    init = ["init", str(tmp_path), "--name", "A", "--abbrev", "a", "--codebase", str(CODEBASES / "monorepo")]
    assert runner.invoke(app, init).exit_code == 0
    toml = tmp_path / "specpipe.toml"
    assert 'app = ""' in toml.read_text()
    toml.write_text(toml.read_text().replace('app = ""', 'app = "apps/admin"'))
    result = runner.invoke(app, ["inventory", "--config", str(toml)])
    assert result.exit_code == 0, result.output
    assert "app apps/admin: given with --app or [paths] app" in result.output
    inv = json.loads((tmp_path / "specpipe-out" / "a-inventory.json").read_text())
    assert inv["app"]["root"] == "apps/admin"
