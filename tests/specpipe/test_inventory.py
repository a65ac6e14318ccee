"""inventory on the two sample codebases: golden JSON + digest, and the facts a blueprint needs.

Regenerate the golden files after an intended change with
``.venv/bin/python tests/specpipe/test_inventory.py`` and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from specpipe.inventory import render_digest, scan_codebase
from specpipe.tokens import estimate_tokens

HERE = Path(__file__).parent
CODEBASES = HERE / "fixtures" / "codebases"
GOLDEN = HERE / "golden" / "inventory"
NAMES = ("fastapi-app", "nextjs-supabase")
DIGEST_BUDGET = 2000


def as_json(inv: dict[str, object]) -> str:
    return json.dumps(inv, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.unit
@pytest.mark.parametrize("name", NAMES)
def test_inventory_matches_golden(name: str) -> None:
    inv = scan_codebase(CODEBASES / name)
    assert as_json(inv) == (GOLDEN / f"{name}.json").read_text()
    assert render_digest(inv, DIGEST_BUDGET) == (GOLDEN / f"{name}.md").read_text()
    assert as_json(scan_codebase(CODEBASES / name)) == as_json(inv)  # deterministic


@pytest.mark.unit
def test_nextjs_supabase_facts() -> None:
    inv = scan_codebase(CODEBASES / "nextjs-supabase")
    assert inv["frameworks"][0] == {
        "name": "Next.js",
        "package": "next",
        "version": "14.2.5",
        "router": "app",
    }
    helpers = {(h["name"], h["file"]) for h in inv["auth"]["helpers"]}
    assert {("requireUser", "src/lib/auth.ts"), ("getUser", "src/lib/auth.ts")} <= helpers
    assert inv["auth"]["providers"] == ["Supabase Auth"] and inv["auth"]["middleware"] == [
        "src/middleware.ts"
    ]
    client = inv["database"]["clients"][0]
    assert (client["kind"], client["file"], client["exports"]) == (
        "supabase",
        "src/lib/supabase/server.ts",
        ["createClient()", "createAdminClient()"],
    )
    tables = {t["name"]: t["columns"] for t in inv["database"]["tables"]}
    assert tables["projects"] == [
        "id",
        "owner_id",
        "name",
        "created_at",
        "status",
    ]  # ALTER TABLE column included
    assert tables["documents"] == ["id", "project_id", "storage_path"]  # the constraint is no column
    assert [b["name"] for b in inv["storage"]["buckets"]] == ["documents"]
    routes = {(r["method"], r["path"]) for r in inv["routes"]}
    assert {("GET", "/api/projects"), ("POST", "/api/projects"), ("PATCH", "/api/projects/[id]")} <= routes
    assert ("PAGE", "/projects") in routes  # the (dashboard) route group is not part of the URL
    components = {c["name"] for c in inv["ui"]["components"]}
    assert {"Button", "Card", "Dialog", "ProjectList"} <= components
    assert "shadcn/ui" in inv["ui"]["libraries"]
    assert inv["state"]["libraries"] == ["TanStack Query", "Zustand"]
    assert [e["name"] for e in inv["env"]] == [
        "NEXT_PUBLIC_SUPABASE_ANON_KEY",
        "NEXT_PUBLIC_SUPABASE_URL",
        "SUPABASE_SERVICE_ROLE_KEY",
    ]
    text = as_json(inv)
    assert "do-not-commit" not in text and "public-anon-key" not in text  # names, never values
    assert "node_modules" not in text


@pytest.mark.unit
def test_fastapi_facts() -> None:
    inv = scan_codebase(CODEBASES / "fastapi-app")
    assert inv["frameworks"] == [{"name": "FastAPI", "package": "fastapi", "version": "==0.110.0"}]
    routes = {(r["method"], r["path"], r["handler"]) for r in inv["routes"]}
    # prefix from include_router("/api") + APIRouter(prefix="/items") + the decorator path
    assert ("DELETE", "/api/items/{item_id}", "delete_item") in routes
    assert ("HEAD", "/ping", "ping") in routes and ("GET", "/health", "health") in routes
    helpers = {h["name"]: h for h in inv["auth"]["helpers"]}
    assert set(helpers) == {"get_current_user", "require_admin"}
    assert helpers["get_current_user"]["doc"] == "The signed-in user, or 401."
    assert [c["file"] for c in inv["database"]["clients"]] == ["app/db.py"]
    tables = {t["name"]: t for t in inv["database"]["tables"]}
    assert tables["users"]["columns"] == ["id", "email", "is_admin"]
    assert "app/models.py:15" in tables["items"]["defined_in"]
    assert inv["storage"]["providers"] == ["S3 (boto3)"] and inv["storage"]["bucket_env"] == ["S3_BUCKET"]
    assert {e["name"] for e in inv["env"]} >= {"DATABASE_URL", "JWT_SECRET", "S3_BUCKET", "S3_ENDPOINT_URL"}
    assert inv["tests"]["frameworks"] == ["pytest"]


@pytest.mark.unit
def test_digest_fits_budget_and_keeps_the_highest_ranked() -> None:
    inv = scan_codebase(CODEBASES / "nextjs-supabase")
    small = render_digest(inv, 420)
    assert estimate_tokens(small) <= 420
    assert "requireUser" in small  # auth helpers rank first
    assert "omitted to fit the budget" in small
    assert "omitted" not in render_digest(inv, 5000)


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        inv = scan_codebase(CODEBASES / name)
        (GOLDEN / f"{name}.json").write_text(as_json(inv))
        (GOLDEN / f"{name}.md").write_text(render_digest(inv, DIGEST_BUDGET))
        print(GOLDEN / name, file=sys.stderr)
