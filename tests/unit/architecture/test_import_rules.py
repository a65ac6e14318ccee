"""The layering of ``src/lorapipe`` (see ``docs/architecture.md``) holds, and the checker catches what it
is for: an upward import, an import between siblings, and the ML stack reached from the web process."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from import_rules import LAYERS, collect_edges, layer_violations, ml_stack_reachable, sql_in_routes, unit_of

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[3] / "src"
PACKAGE = SRC / "lorapipe"


def test_every_package_imports_only_downward() -> None:
    assert layer_violations(collect_edges(PACKAGE)) == []


def test_the_web_process_never_reaches_the_ml_stack() -> None:
    """Lazy imports count too: a function that imports torch runs in the web process one day."""
    assert ml_stack_reachable(collect_edges(PACKAGE)) == []


def test_every_package_has_a_layer() -> None:
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    units -= {"__init__", "__pycache__", "samples", "py"}
    named = set().union(*LAYERS)
    assert units <= named, (
        f"add {sorted(units - named)} to LAYERS in import_rules.py and docs/architecture.md"
    )


def test_specpipe_imports_nothing_of_lorapipe() -> None:
    found = [e for e in collect_edges(SRC / "specpipe") if e.target.split(".")[0] == "lorapipe"]
    assert found == []


def _planted(tmp_path: Path, module: str, line: str) -> list:
    root = tmp_path / "lorapipe"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "samples"))
    path = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
    if not path.exists():
        path = root.joinpath(*module.split(".")[1:], "__init__.py")
    path.write_text(path.read_text("utf-8") + f"\n\ndef _planted() -> None:\n    {line}\n", "utf-8")
    ast.parse(path.read_text("utf-8"))
    return collect_edges(root)


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        # The edges the house issue measured, each planted back as a lazy import.
        ("lorapipe.db.base", "import lorapipe.jobs.store", "upward (db is below jobs)"),
        ("lorapipe.web.pages", "from lorapipe.api import routes_v1", "between siblings web and api"),
        ("lorapipe.models.encoding", "import lorapipe.datasets.readers", "upward (models is below datasets)"),
        (
            "lorapipe.jobs.transition",
            "from lorapipe.backends import base",
            "between siblings jobs and backends",
        ),
        ("lorapipe.services.jobs", "import lorapipe.training.run", "between siblings services and training"),
        ("lorapipe.contract.spec", "import lorapipe.training.events", "upward (contract is below training)"),
    ],
)
def test_a_planted_edge_is_caught(tmp_path: Path, module: str, line: str, expected: str) -> None:
    before = set(layer_violations(collect_edges(PACKAGE)))
    problems = [p for p in layer_violations(_planted(tmp_path, module, line)) if p not in before]
    assert len(problems) == 1 and expected in problems[0] and module in problems[0]


def test_a_planted_torch_import_under_the_web_process_is_caught(tmp_path: Path) -> None:
    edges = _planted(tmp_path, "lorapipe.services.costs", "import torch")
    line = next(e.line for e in edges if e.source == "lorapipe.services.costs" and e.target == "torch")
    problems = ml_stack_reachable(edges)
    assert len(problems) == 1 and problems[0].endswith(f"-> torch (line {line})")
    assert problems[0].startswith("lorapipe.server -> ")


def test_unit_of_names_the_package() -> None:
    assert unit_of("lorapipe.jobs.store") == "jobs" and unit_of("torch.nn") is None


def test_web_imports_no_api_module() -> None:
    """Pages and routes both call services; a page never calls a route handler."""
    found = [e for e in collect_edges(PACKAGE) if unit_of(e.source) == "web" and unit_of(e.target) == "api"]
    assert found == []


def test_route_modules_hold_no_sql() -> None:
    assert sql_in_routes(PACKAGE / "api") == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("from sqlalchemy import select", "from sqlalchemy import select"),
        ("import sqlalchemy", "import sqlalchemy"),
        ("from sqlalchemy.orm import Session, joinedload", "from sqlalchemy.orm import joinedload"),
        ("db.scalars(query)", ".scalars(...) runs SQL"),
        ("db.commit()", ".commit(...) runs SQL"),
    ],
)
def test_sql_planted_in_a_route_module_is_caught(tmp_path: Path, line: str, expected: str) -> None:
    api = tmp_path / "api"
    shutil.copytree(PACKAGE / "api", api, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    routes = api / "routes_native_costs.py"
    routes.write_text(routes.read_text("utf-8") + f"\n\ndef _planted(db) -> None:\n    {line}\n", "utf-8")
    problems = sql_in_routes(api)
    assert (
        len(problems) == 1
        and expected in problems[0]
        and problems[0].startswith("api/routes_native_costs.py:")
    )
