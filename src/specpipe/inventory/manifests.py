"""Package manifests: package.json, pyproject.toml, requirements*.txt -> dependencies with versions."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import PurePosixPath
from typing import Any

from specpipe.inventory.files import SourceFile

REQ_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def _python_requirement(spec: str) -> tuple[str, str]:
    """``fastapi==0.110.0`` -> (``fastapi``, ``==0.110.0``); an unversioned name gets ``*``."""
    m = REQ_LINE.match(spec)
    if not m:
        return spec.strip(), "*"
    return m.group(1).lower(), m.group(3).strip() or "*"


def parse_manifest(f: SourceFile) -> dict[str, Any] | None:
    """The manifest in ``f``, or None when ``f`` is not one (or is unreadable)."""
    name = PurePosixPath(f.path).name
    try:
        if name == "package.json":
            data = json.loads(f.text)
            return {
                "path": f.path,
                "kind": "npm",
                "name": data.get("name", ""),
                "version": data.get("version", ""),
                "dependencies": dict(sorted(data.get("dependencies", {}).items())),
                "dev_dependencies": dict(sorted(data.get("devDependencies", {}).items())),
                "scripts": dict(sorted(data.get("scripts", {}).items())),
            }
        if name == "pyproject.toml":
            data = tomllib.loads(f.text)
            project = data.get("project", {})
            deps = dict(_python_requirement(d) for d in project.get("dependencies", []))
            dev: dict[str, str] = {}
            for group in project.get("optional-dependencies", {}).values():
                dev.update(_python_requirement(d) for d in group)
            return {
                "path": f.path,
                "kind": "python",
                "name": project.get("name", ""),
                "version": project.get("version", ""),
                "dependencies": dict(sorted(deps.items())),
                "dev_dependencies": dict(sorted(dev.items())),
                "scripts": dict(sorted(project.get("scripts", {}).items())),
            }
        if re.fullmatch(r"requirements[\w.-]*\.txt", name):
            lines = [x.strip() for x in f.text.splitlines()]
            reqs = dict(_python_requirement(x) for x in lines if x and not x.startswith(("#", "-")))
            bucket = "dev_dependencies" if re.search(r"dev|test", name) else "dependencies"
            other = "dependencies" if bucket == "dev_dependencies" else "dev_dependencies"
            return {
                "path": f.path,
                "kind": "python",
                "name": "",
                "version": "",
                bucket: dict(sorted(reqs.items())),
                other: {},
                "scripts": {},
            }
    except (ValueError, tomllib.TOMLDecodeError, AttributeError):
        return None
    return None


def all_dependencies(manifests: list[dict[str, Any]]) -> dict[str, str]:
    """Every dependency name -> version spec across manifests (runtime first, then dev)."""
    out: dict[str, str] = {}
    for m in manifests:
        for key in ("dependencies", "dev_dependencies"):
            for name, version in m[key].items():
                out.setdefault(name, version)
    return out
