"""Schemathesis over every operation of the app's OpenAPI document, on SQLite and PostgreSQL: valid
and invalid inputs per operation, then stateful sequences along the links schemathesis infers (an
upload's id fed to the routes that take it, a job's id to its events...). No answer may be a 5xx.
On PostgreSQL only: it refuses what SQLite silently takes (NUL in text, integers past int4), so
it is where these inputs used to become 500s. Sized to run in CI in under three minutes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.stateful import run_state_machine_as_test
from native_app import Native, build_native
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.modes import GenerationMode

pytestmark = pytest.mark.integration

#: Holds its connection until the job ends; the property and hostile-input tests cover its parameters.
SKIPPED = {("GET", "/api/jobs/{job_id}/stream")}
PER_OPERATION = hypothesis.settings(
    max_examples=8,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
STATEFUL = hypothesis.settings(
    max_examples=30,
    stateful_step_count=8,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def native(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Native]:
    yield from build_native(request, tmp_path)


def _schema(native: Native) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", native.client.app)
    return (
        schema.exclude(func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SKIPPED)
        if hasattr(schema, "exclude")
        else schema
    )


def test_no_generated_request_to_any_operation_gets_a_5xx(native: Native) -> None:
    headers = native.auth("alice")
    operations = [r.ok() for r in _schema(native).get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in operations if (op.method.upper(), op.path) not in SKIPPED]
    assert len(operations) >= 45, [op.label for op in operations]
    sent: list[tuple[str, int]] = []

    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @PER_OPERATION
            @hypothesis.given(op.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                response = case.call(headers=headers)
                sent.append((f"{case.method} {case.formatted_path}", response.status_code))
                assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])

            # An operation without inputs has no invalid variant: hypothesis calls that unsatisfiable.
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                call()

    assert len(sent) > 10 * len(operations)
    assert {code for _, code in sent} >= {200, 400, 404}


def test_stateful_sequences_along_the_inferred_links_get_no_5xx(native: Native) -> None:
    headers = native.auth("alice")
    schema = _schema(native)
    # Without the constants pool (values it learns from responses): generation must not depend on
    # state outside hypothesis's own bundles, or replaying a case is "flaky" to hypothesis.
    machine = schema.build_state_machine(feedback=FeedbackSources(), link_calibration=None)
    assert len(schema.operations_with_incoming_links()) >= 20  # links inferred from the schemas' ids
    calls: list[tuple[str, int]] = []

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls.append((f"{case.method} {case.path}", response.status_code))
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])

    run_state_machine_as_test(Machine, settings=STATEFUL)
    assert len(calls) >= STATEFUL.max_examples
    # The links were followed: some call used an id another call made.
    assert any(code in (200, 201) for _, code in calls)
