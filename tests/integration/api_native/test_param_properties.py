"""Property: no id, cursor, date or integer sent to any GET route of the OpenAPI document is ever
answered with a 5xx (SQLite and PostgreSQL; PostgreSQL refuses NUL in text and integers past int4,
where SQLite takes anything). The routes and their parameters are read from ``/openapi.json``, so a
new route is covered without editing this test."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from native_app import Native

pytestmark = pytest.mark.integration

SETTINGS = hypothesis.settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
SPECIAL = ["\x00", "a\x00b", "\t", "\n", "\x7f", "%00", "", " ", "x" * 300, "é" * 256, "../..", "/", "..%2F"]
NUMBERS = [2**31 - 1, 2**31, 2**63, 2**64, -(2**31) - 1, -(2**63) - 1, 10**30, -1, 0]
DATES = ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31", "2026-02-30", "20260101", "-1"]

hostile_text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x2FFFF, exclude_categories=["Cs"]), max_size=300),
)


def _schema(param: dict[str, Any]) -> dict[str, Any]:
    schema = param.get("schema", {})
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return {**schema, **option}
    return schema


def _value(schema: dict[str, Any], real_ids: list[str]) -> st.SearchStrategy[str]:
    kind = schema.get("type")
    if kind == "integer":
        return st.one_of(st.sampled_from(NUMBERS), st.integers(-(2**70), 2**70)).map(str)
    if kind == "boolean":
        return st.sampled_from(["true", "false", "1", "maybe", "\x00"])
    if schema.get("format") == "date":
        return st.one_of(st.sampled_from(DATES), st.dates().map(str), hostile_text)
    if "enum" in schema:
        return st.one_of(st.sampled_from([str(v) for v in schema["enum"]]), hostile_text)
    return st.one_of(st.sampled_from(real_ids), hostile_text) if real_ids else hostile_text


def _get_routes(native: Native) -> list[tuple[str, list[dict[str, Any]]]]:
    document = native.client.get("/openapi.json").json()
    return [
        (path, operations["get"].get("parameters", []))
        for path, operations in sorted(document["paths"].items())
        if "get" in operations and path.startswith(("/v1/", "/api/"))
    ]


def test_no_id_cursor_date_or_integer_on_any_get_route_gets_a_5xx(native: Native) -> None:
    headers = native.auth("alice")
    job_id = native.job("alice")
    # The job ends, so its event stream ends too (a live stream would wait for events).
    assert native.client.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", headers=headers).status_code == 200
    files = native.client.get("/v1/files", headers=headers).json()["data"]
    real_ids = [job_id, files[0]["id"], files[0].get("dataset_id", "ds-1"), "lorapipe/tiny-qwen3", "balanced"]
    routes = _get_routes(native)
    assert len(routes) >= 25, [p for p, _ in routes]
    sent: list[tuple[str, int]] = []

    for template, params in routes:
        _check_route(native, headers, template, params, real_ids, sent)

    assert len(sent) >= 20 * len(routes)
    assert {code for _, code in sent} >= {200, 400, 404}


def _check_route(
    native: Native,
    headers: dict[str, str],
    template: str,
    params: list[dict[str, Any]],
    real_ids: list[str],
    sent: list[tuple[str, int]],
) -> None:
    path_params = [p for p in params if p["in"] == "path"]
    query_params = [p for p in params if p["in"] == "query"]
    strategy = st.tuples(
        st.fixed_dictionaries({p["name"]: _value(_schema(p), real_ids) for p in path_params}),
        st.fixed_dictionaries({}, optional={p["name"]: _value(_schema(p), []) for p in query_params}),
    )

    @SETTINGS
    @hypothesis.given(strategy)
    def call(values: tuple[dict[str, str], dict[str, str]]) -> None:
        path_values, query = values
        url = template
        for name, value in path_values.items():
            url = url.replace("{" + name + "}", quote(value, safe=""))
        response = native.client.get(url, params=query, headers=headers)
        sent.append((f"GET {url} {query}", response.status_code))
        assert response.status_code < 500, (url, query, response.text[:300])

    call()
