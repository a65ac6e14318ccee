"""Inventory areas about the project setup: environment variable names and the test setup."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specpipe.inventory.assemble import Scan

TEST_LIBS = {
    "vitest": "Vitest",
    "jest": "Jest",
    "@playwright/test": "Playwright",
    "cypress": "Cypress",
    "@testing-library/react": "Testing Library",
    "mocha": "Mocha",
    "pytest": "pytest",
}
TEST_CONFIG = re.compile(
    r"(^|/)((vitest|jest|playwright|cypress)\.config\.\w+|pytest\.ini|conftest\.py|tox\.ini)$"
)
TEST_FILE = re.compile(r"(^|/)(tests?|__tests__|e2e)/|\.(test|spec)\.\w+$|(^|/)test_\w+\.py$|_test\.py$")
ENV_EXAMPLE = re.compile(
    r"(^|/)\.env[\w.-]*\.(example|sample|template)$|(^|/)\.env\.(example|sample|template)[\w.-]*$"
)
ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)


def env(s: Scan) -> list[dict[str, Any]]:
    """Environment variable NAMES (never values) from example env files and from code."""
    names: dict[str, list[str]] = {}
    for f in s.files:
        if ENV_EXAMPLE.search(f.path):
            for m in ENV_LINE.finditer(f.text):
                names.setdefault(m.group(1), []).append(f"{f.path}:{f.line_of(m.start())}")
    for path, js in s.js.items():
        for name, line in js.env:
            names.setdefault(name, []).append(f"{path}:{line}")
    for path, py in s.py.items():
        for name, line in py.env:
            names.setdefault(name, []).append(f"{path}:{line}")
    return [{"name": n, "sources": sorted(set(v))} for n, v in sorted(names.items())]


def tests(s: Scan) -> dict[str, Any]:
    """Test frameworks, their config files, and where the tests are."""
    frameworks = {label for dep, label in TEST_LIBS.items() if dep in s.deps}
    configs = [p for p in s.by_path if TEST_CONFIG.search(p)]
    pyproject = s.by_path.get("pyproject.toml")
    if pyproject and "[tool.pytest" in pyproject.text:
        configs.append("pyproject.toml [tool.pytest]")
        frameworks.add("pytest")
    files = [p for p in s.by_path if TEST_FILE.search(p) and not TEST_CONFIG.search(p)]
    dirs = sorted({p.split("/")[0] if "/" in p else "." for p in files})
    return {
        "frameworks": sorted(frameworks),
        "config_files": sorted(configs),
        "test_files": len(files),
        "dirs": dirs,
    }
