"""``POST /v1/chat/completions`` refuses what it cannot honour with a 4xx naming the field, before any
model is loaded (no inference worker is started by these requests)."""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import Api

pytestmark = pytest.mark.integration

GOOD: dict[str, Any] = {"model": "lorapipe/tiny-qwen3", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"n": 2}, 400, "n"),
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"max_tokens": 10**9}, 400, "max_tokens"),
        ({"max_completion_tokens": 10**6}, 400, "max_completion_tokens"),
        ({"temperature": 2.5}, 400, "temperature"),
        ({"top_p": 0}, 400, "top_p"),
        ({"stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        ({"stop": [""]}, 400, "stop"),
        ({"seed": 2**70}, 400, "seed"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
        ({"logprobs": True}, 400, "logprobs"),
        ({"response_format": {"type": "json_object"}}, 400, "response_format"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, 400, "messages.0.role"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "messages.0.content"),
        ({"messages": [{"role": "user"}]}, 400, "messages.0.content"),
        ({"model": "ft:tiny-qwen3:ftjob-nobody"}, 404, "model"),
        ({"model": "no-such-model"}, 400, "model"),
        ({"model": "Qwen/Qwen3-8B"}, 400, "model"),  # catalogued, not downloaded: no download from chat
        ({"model": "/etc"}, 400, "model"),
        ({"model": "a\u0007b"}, 400, "model"),
    ],
)
def test_refused_with_the_field_named(api: Api, change: dict[str, Any], status: int, param: str) -> None:
    answer = api.client.post("/v1/chat/completions", headers=api.alice, json={**GOOD, **change})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param


def test_no_key_no_chat(api: Api) -> None:
    assert api.client.post("/v1/chat/completions", json=GOOD).status_code == 401
