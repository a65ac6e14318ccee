"""Every query the API's read routes run uses an index, on SQLite and PostgreSQL: each GET route of the
OpenAPI document is called over seeded rows, every SELECT it sent is captured with its parameters, and
the database's own plan for it (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL ``EXPLAIN``) may neither read
a whole table nor sort a whole result.

Allowed: sorting only the rows that tie on an index's order (SQLite's "RIGHT PART OF ORDER BY",
PostgreSQL's Incremental Sort: the id tie-breaker after ``created_at``), and grouping the rows an index
found (an aggregate reads them all by nature). Migrations' own tables are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_harness import Api
from sqlalchemy import Engine, event
from test_v1 import create, upload

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.jobs import Job
from lorapipe.jobs.events import append_event

pytestmark = pytest.mark.integration

NOT_OURS = ("alembic_version",)


@contextmanager
def captured_selects() -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


def _get_every_route(api: Api, ids: dict[str, str]) -> int:
    paths = api.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    called = 0
    for template, operations in paths.items():
        if "get" not in operations or template.endswith("/stream"):
            continue
        path = re.sub(r"\{(\w+)(:path)?\}", lambda m: ids.get(m.group(1), "x"), template)
        for params in ({}, {"include": "estimate"} if "jobs" in template else None):
            if params is not None:
                assert api.client.get(path, headers=api.alice, params=params).status_code < 500, path
                called += 1
    return called


def _sqlite_problems(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    return [
        step
        for step in plan
        if (step.startswith("SCAN ") and "INDEX" not in step and not step.startswith(("SCAN CONSTANT",)))
        or step == "USE TEMP B-TREE FOR ORDER BY"
    ]


def _postgres_problems(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as conn:
        # Tiny tables: without these the planner rightly prefers reading them whole; with them, a
        # sequential scan or a sort is left only where no index serves the query.
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
        conn.rollback()
    nodes = [step.strip().removeprefix("->").strip() for step in plan]
    return [node for node in nodes if re.match(r"(Seq Scan|Sort) .*\(cost=", node)]


def test_every_api_read_uses_an_index(api: Api) -> None:
    f = upload(api, api.alice)
    job = create(api, api.alice, f["id"], model="Qwen/Qwen3-8B", preset="balanced").json()
    url = api.settings.resolved_database_url
    engine = create_engine_for(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            for n in range(30):
                append_event(s, job["id"], type="metrics", message=f"step {n}", data={"step": n})
        ids = {"job_id": job["id"], "file_id": f["id"], "dataset_id": "ds_missing", "model_id": "m"}
        with captured_selects() as seen:
            called = _get_every_route(api, ids)
            # The cursor pages, from an anchor that exists.
            api.client.get("/v1/fine_tuning/jobs", headers=api.alice, params={"after": job["id"]})
            events = api.client.get(f"/v1/fine_tuning/jobs/{job['id']}/events", headers=api.alice).json()
            after = events["data"][-1]["id"]
            page = f"/v1/fine_tuning/jobs/{job['id']}/events"
            assert api.client.get(page, headers=api.alice, params={"after": after}).status_code == 200
            api.client.get("/v1/files", headers=api.alice, params={"after": f["id"]})
        assert called > 30 and len(seen) > 50
        check = _postgres_problems if engine.dialect.name == "postgresql" else _sqlite_problems
        problems: dict[str, list[str]] = {}
        for statement, parameters in seen:
            if any(f"FROM {table}" in statement for table in NOT_OURS):
                continue
            found = check(engine, statement, parameters)
            if found:
                problems[" ".join(statement.split())] = found
        assert problems == {}
        with make_sessionmaker(engine)() as s:
            assert s.get(Job, job["id"]) is not None
    finally:
        engine.dispose()
