"""Routes and pages are thin (issue 12): a route module (``api/routes_*.py``) and a dashboard module
(``web/``) build no query. They import nothing of SQLAlchemy but the ``Session`` type, from the table
modules (``lorapipe.db``) only a status enum or the ``User`` type, nothing of the job store; and the
pages call service functions, never the API's route handlers. Lazy imports inside functions count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "lorapipe"
TYPES_ONLY = {"Session", "sessionmaker"}
"""SQLAlchemy names a thin module may use (annotations of its dependencies)."""
DB_NAMES = {"DatasetStatus", "User"}
"""What a thin module may take from the table modules: a status vocabulary, the caller's type."""


def thin_modules(package: Path) -> list[Path]:
    routes = sorted((package / "api").glob("routes_*.py"))
    return routes + sorted((package / "web").rglob("*.py"))


def query_imports(path: Path) -> list[str]:
    found = []
    is_page = path.parent.name == "web"
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            modules = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [(node.module, a.name) for a in node.names]
        else:
            continue
        for module, name in modules:
            where = f"{path.parent.name}/{path.name}:{node.lineno}"
            if module.split(".")[0] == "sqlalchemy" and name not in TYPES_ONLY:
                found.append(f"{where} imports {module}.{name or ''} (queries belong in services)")
            elif module.startswith("lorapipe.db") and name not in DB_NAMES:
                found.append(f"{where} imports {module}.{name or ''} (rows belong in services)")
            elif module.startswith("lorapipe.jobs.store") or (module == "lorapipe.jobs" and name == "store"):
                found.append(f"{where} imports the job store (queries belong in services)")
            elif is_page and module.startswith("lorapipe.api"):
                found.append(f"{where} imports {module} (pages call services, not routes)")
    return found


def test_routes_and_pages_build_no_queries() -> None:
    modules = thin_modules(PACKAGE)
    assert len(modules) > 10
    assert [f for m in modules for f in query_imports(m)] == []


def test_a_planted_query_is_caught(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "web").mkdir()
    (tmp_path / "api" / "routes_things.py").write_text("def f():\n    from sqlalchemy import select\n")
    (tmp_path / "web" / "things.py").write_text(
        "from lorapipe.api.routes_things import f\nfrom lorapipe.db.jobs import Job\nfrom lorapipe.jobs import store\n"
    )
    found = [f for m in thin_modules(tmp_path) for f in query_imports(m)]
    assert found == [
        "api/routes_things.py:2 imports sqlalchemy.select (queries belong in services)",
        "web/things.py:1 imports lorapipe.api.routes_things (pages call services, not routes)",
        "web/things.py:2 imports lorapipe.db.jobs.Job (rows belong in services)",
        "web/things.py:3 imports the job store (queries belong in services)",
    ]
