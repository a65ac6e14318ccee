"""Schemathesis over the notifications, webhooks, costs and budget operations of the app's OpenAPI
document (valid and invalid inputs): no answer is a 5xx. ``bench/api.py`` runs it over every route."""

from __future__ import annotations

import contextlib
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from notify_factories import Api
from schemathesis.generation.modes import GenerationMode

pytestmark = pytest.mark.integration

PREFIXES = ("/api/notifications", "/api/webhooks", "/api/costs", "/api/budget")
SETTINGS = hypothesis.settings(
    max_examples=3,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def test_no_generated_request_gets_a_5xx(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    ours = [op for op in operations if op.path.startswith(PREFIXES)]
    assert len(ours) == 15
    sent: list[tuple[str, int]] = []

    for op in ours:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @SETTINGS
            @hypothesis.given(op.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                response = case.call(headers=api.alice)
                sent.append((f"{case.method} {case.formatted_path}", response.status_code))

            # An operation without inputs has no invalid variant: hypothesis calls that unsatisfiable.
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                call()

    assert len(sent) > 40
    assert [s for s in sent if s[1] >= 500] == []
    assert any(code == 400 for _, code in sent) and any(code == 200 for _, code in sent)
