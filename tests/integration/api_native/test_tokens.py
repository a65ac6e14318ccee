"""Counting a stored dataset's tokens with a catalogued tokenizer, in a child process."""

from __future__ import annotations

import pytest
from native_app import EQ12, Native

pytestmark = pytest.mark.integration


def test_count_tokens_adds_figures_histogram_and_rendered_samples(native_models: Native) -> None:
    native = native_models
    ds = native.upload("alice", EQ12.read_bytes(), filename="eq12.jsonl").json()
    assert "tokens" not in ds["statistics"]
    r = native.client.post(
        f"/api/datasets/{ds['id']}/tokens",
        headers=native.auth("alice"),
        json={"model": "tiny-qwen3", "max_length": 2048, "samples": 2},
    )
    assert r.status_code == 200, r.text
    assert r.json()["statistics"]["tokens"]["tokenizer"] == "lorapipe/tiny-qwen3"
    report = native.client.get(f"/api/datasets/{ds['id']}/report", headers=native.auth("alice")).json()
    tokens = report["tokens"]
    assert tokens["max_length"] == 2048 and 0 < tokens["trained"] < tokens["total"]
    assert sum(b["count"] for b in tokens["histogram"]) == 44
    assert report["examples"] == 44 and report["source"] == "eq12.jsonl"
    assert len(report["samples"]) == 2
    segments = report["samples"][0]["segments"]
    assert {s["trained"] for s in segments} == {True, False}
    assert any("<|im_start|>assistant" in s["text"] for s in segments if not s["trained"])

    # With counted tokens, the dataset can be estimated on every GPU and backend.
    r = native.client.post(
        f"/api/datasets/{ds['id']}/estimate",
        headers=native.auth("alice"),
        json={"model": "Qwen/Qwen3-8B", "preset": "balanced", "gpus": ["L40S", "H100-SXM"]},
    )
    assert r.status_code == 200, r.text
    estimate = r.json()
    assert estimate["model"] == "Qwen/Qwen3-8B" and estimate["tokens"]
    assert {o["gpu"] for o in estimate["options"]} <= {"L40S", "H100-SXM"} and estimate["options"]
    assert estimate["recommendation"]["gpu"] in {"L40S", "H100-SXM"}

    native.client.cookies.set("lorapipe_key", native.keys["alice"])
    page = native.client.get(f"/ui/datasets/{ds['id']}").text
    assert '<svg class="histogram"' in page and page.count("<rect ") == len(tokens["histogram"])
    assert '<pre class="rendered">' in page and '<mark class="trained">' in page


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "/etc/passwd"}, 400, "model"),
        ({"model": "no-such-model"}, 400, "model"),
        ({"model": "tiny-qwen3", "max_length": 1}, 400, "max_length"),
        ({"model": "tiny-qwen3", "extra": True}, 400, "extra"),
    ],
)
def test_count_tokens_refuses_bad_input(
    native_sqlite: Native, body: dict[str, object], status: int, param: str
) -> None:
    ds = native_sqlite.upload("alice", EQ12.read_bytes()).json()
    r = native_sqlite.client.post(
        f"/api/datasets/{ds['id']}/tokens", headers=native_sqlite.auth("alice"), json=body
    )
    assert r.status_code == status, r.text
    assert param in (r.json()["error"]["param"] or "") + r.json()["error"]["message"]


def test_count_tokens_of_an_invalid_dataset_is_409(native_sqlite: Native) -> None:
    ds = native_sqlite.upload("alice", b"[").json()
    r = native_sqlite.client.post(
        f"/api/datasets/{ds['id']}/tokens", headers=native_sqlite.auth("alice"), json={"model": "tiny-qwen3"}
    )
    assert r.status_code == 409


def test_estimates(native_sqlite: Native) -> None:
    native = native_sqlite
    body = {"model": "Qwen/Qwen3-8B", "dataset": {"tokens": 56000, "trained_tokens": 20000, "examples": 44}}
    r = native.client.post("/api/estimates", headers=native.auth("alice"), json=body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["options"] and report["prices_as_of"] and report["vram_gib"]
    cheapest = report["cheapest"]
    usable = [o for o in report["options"] if o["usable"]]
    assert cheapest["usd"]["mid"] == min(o["usd"]["mid"] for o in usable)
    for bad in ({**body, "gpus": ["NO-SUCH-GPU"]}, {**body, "dataset": {"tokens": 0}}, {"model": ""}):
        r = native.client.post("/api/estimates", headers=native.auth("alice"), json=bad)
        assert 400 <= r.status_code < 500, (bad, r.text)
    ds = native.upload("alice", EQ12.read_bytes()).json()
    r = native.client.post(
        f"/api/datasets/{ds['id']}/estimate", headers=native.auth("alice"), json={"model": "Qwen/Qwen3-8B"}
    )
    assert r.status_code == 409 and "tokens" in r.json()["error"]["message"]
