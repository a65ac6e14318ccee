"""The OpenAPI document describes what every ``/api`` route returns: each JSON operation's success
response names a schema with typed properties (never ``{}`` nor a free-form object), and the few
non-JSON operations (an event stream, downloads, a CSV) say what they send instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lorapipe.server import create_app
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

NOT_JSON = {
    ("get", "/api/jobs/{job_id}/stream"): "text/event-stream",
    ("get", "/api/adapters/{adapter_id}/download"): "application/zip",
    ("get", "/api/adapters/{adapter_id}/files/{path}"): "application/octet-stream",
    ("get", "/api/costs.csv"): "text/csv",
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'api.db'}"), run_reconciler=False)
    return app.openapi()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _success(op: dict[str, Any]) -> dict[str, Any]:
    codes = [c for c in op["responses"] if c.startswith("2")]
    assert len(codes) == 1, codes
    return dict(op["responses"][codes[0]])


def _api_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in doc["paths"].items()
        if path.startswith("/api/")
        for method, op in ops.items()
    ]


def test_every_json_api_route_has_a_typed_response_schema(document: dict[str, Any]) -> None:
    operations = _api_operations(document)
    assert len(operations) >= 41
    untyped = []
    for method, path, op in operations:
        if (method, path) in NOT_JSON:
            continue
        content = _success(op).get("content", {})
        schema = content.get("application/json", {}).get("schema") or {}
        resolved = _resolve(document, schema)
        # A response model is an object with named, typed properties; {} or {"type": "object",
        # "additionalProperties": true} (a bare dict) says nothing about the response.
        properties = resolved.get("properties") or {}
        if not properties or any(p == {} for p in properties.values()):
            untyped.append(f"{method.upper()} {path}")
    assert untyped == []


def test_non_json_routes_declare_what_they_send(document: dict[str, Any]) -> None:
    seen = {(method, path): op for method, path, op in _api_operations(document)}
    for key, media_type in NOT_JSON.items():
        response = _success(seen[key])
        assert list(response["content"]) == [media_type], key
        assert "not JSON" in response["description"], key


def test_list_pages_describe_their_items(document: dict[str, Any]) -> None:
    jobs = _resolve(
        document, _success(document["paths"]["/api/jobs"]["get"])["content"]["application/json"]["schema"]
    )
    assert {"data", "total", "has_more", "limit", "offset"} <= set(jobs["properties"])
    item = _resolve(document, jobs["properties"]["data"]["items"])
    assert {"id", "status", "progress", "hyperparameters"} <= set(item["properties"])
