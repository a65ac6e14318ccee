"""The /v1 routes over a real database: auth, files, jobs, idempotency, cancel, pagination,
and isolation (another user's object is a 404 on every route)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_harness import EQ12, Api

pytestmark = pytest.mark.integration


def upload(api: Api, headers: dict[str, str], data: bytes | None = None) -> dict[str, Any]:
    body = data if data is not None else EQ12.read_bytes()
    r = api.client.post(
        "/v1/files", headers=headers, files={"file": ("eq12.jsonl", body)}, data={"purpose": "fine-tune"}
    )
    assert r.status_code == 200, r.text
    return r.json()


def create(api: Api, headers: dict[str, str], file_id: str, **extra: Any) -> Any:
    body = {"model": "lorapipe/tiny-qwen3", "training_file": file_id, "preset": "cpu-smoke", **extra}
    return api.client.post("/v1/fine_tuning/jobs", headers=headers, json=body)


def test_auth_required_and_revoked_or_unknown_keys_refused(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer lp-nope"}, {"Authorization": "Basic x"}):
        r = api.client.get("/v1/fine_tuning/jobs", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"


def test_upload_create_retrieve_list_events_cancel(api: Api) -> None:
    f = upload(api, api.alice)
    assert f["object"] == "file" and f["status"] == "processed" and f["bytes"] == EQ12.stat().st_size
    r = create(api, api.alice, f["id"], suffix="demo", hyperparameters={"n_epochs": 2})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["object"] == "fine_tuning.job" and job["status"] == "queued"
    assert job["hyperparameters"]["n_epochs"] == 2 and job["preset"] == "custom"
    got = api.client.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=api.alice).json()
    assert got["id"] == job["id"] and got["training_file"] == f["id"]
    events = api.client.get(f"/v1/fine_tuning/jobs/{job['id']}/events", headers=api.alice).json()
    assert events["object"] == "list" and events["data"][0]["message"].startswith("queued")
    r = api.client.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel", headers=api.alice)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = api.client.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel", headers=api.alice)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state_transition"


def test_a_server_path_or_an_unknown_model_is_refused_at_creation(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the hub cannot vouch for any id
    f = upload(api, api.alice)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    answers = {}
    for model in ("/etc", "/no/such/dir", str(folder), "someone/never-heard-of", "gpt-nine"):
        r = create(api, api.alice, f["id"], model=model)
        assert r.status_code == 400, (model, r.text)
        error = r.json()["error"]
        assert error["code"] == "unknown_model" and error["param"] == "model", error
        answers[model] = error["message"].replace(repr(model), "REF")
    # A server path is refused in the same words whether it exists, is a model folder, or is nothing.
    assert answers["/etc"] == answers["/no/such/dir"] == answers[str(folder)]
    assert api.client.get("/v1/fine_tuning/jobs", headers=api.alice).json()["data"] == []


def test_invalid_requests_are_400_naming_the_field(api: Api) -> None:
    f = upload(api, api.alice)
    r = create(api, api.alice, f["id"], hyperparameters={"batch_size": 100000})
    assert r.status_code == 400 and "batch_size" in r.json()["error"]["message"]
    r = create(api, api.alice, f["id"], backend="mainframe")
    assert r.status_code == 400 and r.json()["error"]["param"] == "backend"
    bad = upload(api, api.alice, b'{"not": "a conversation"}\n')
    assert bad["status"] == "error" and bad["status_details"]
    r = create(api, api.alice, bad["id"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_dataset"
    r = api.client.post(
        "/v1/files", headers=api.alice, files={"file": ("x.jsonl", b"{}")}, data={"purpose": "assistants"}
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"


def test_idempotency_key(api: Api) -> None:
    f = upload(api, api.alice)
    key = {"Idempotency-Key": "create-1", **api.alice}
    first = create(api, key, f["id"]).json()
    again = create(api, key, f["id"]).json()
    assert again["id"] == first["id"]
    other = create(api, key, f["id"], suffix="different")
    assert other.status_code == 409
    # Keys are per user: bob's "create-1" is his own.
    fb = upload(api, api.bob)
    assert create(api, {"Idempotency-Key": "create-1", **api.bob}, fb["id"]).json()["id"] != first["id"]


def test_cursor_pagination(api: Api) -> None:
    f = upload(api, api.alice)
    ids = [create(api, api.alice, f["id"]).json()["id"] for _ in range(5)]
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = api.client.get("/v1/fine_tuning/jobs", headers=api.alice, params=params).json()
        seen += [j["id"] for j in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == list(reversed(ids))


def test_single_user_mode_accepts_requests_without_a_key(migrated_url: str, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from lorapipe.server import create_app
    from lorapipe.settings import Settings

    settings = Settings(data_dir=tmp_path / "su", database_url=migrated_url)
    with TestClient(create_app(settings, run_reconciler=False, single_user="local")) as client:
        assert client.get("/v1/fine_tuning/jobs").status_code == 200
        # A key that is sent is still checked.
        assert (
            client.get("/v1/fine_tuning/jobs", headers={"Authorization": "Bearer lp-bad"}).status_code == 401
        )
    with TestClient(create_app(settings, run_reconciler=False)) as client:
        assert client.get("/v1/fine_tuning/jobs").status_code == 401


def test_a_job_is_created_with_a_frozen_estimate(api: Api) -> None:
    f = upload(api, api.alice)
    job = create(api, api.alice, f["id"], model="Qwen/Qwen3-8B", preset="balanced").json()
    est = job["estimate"]
    assert est["model"] == "Qwen/Qwen3-8B" and est["fits"] and est["recommendation"]
    # Uploaded without token counts: approximated from characters, and it says so.
    assert "approximated" in est["assumptions"][0]
    # EQ-12 holds ~59k tokens (Qwen3 vocabulary), 10 % of them held out for validation.
    assert 40_000 < est["tokens"]["tokens_per_epoch"] < 80_000
    assert 0.2 < est["tokens"]["trained_tokens_per_epoch"] / est["tokens"]["tokens_per_epoch"] < 0.45
    # A read leaves the estimate out (most of the object's size) unless asked for; it is frozen.
    url = f"/v1/fine_tuning/jobs/{job['id']}"
    compact = api.client.get(url, headers=api.alice)
    assert "estimate" not in compact.json() and len(compact.content) < 2_000
    assert api.client.get(url, headers=api.alice, params={"include": "estimate"}).json()["estimate"] == est
    assert api.client.get(f"{url}/estimate", headers=api.alice).json() == est
    listed = api.client.get("/v1/fine_tuning/jobs", headers=api.alice).json()["data"]
    assert listed and all("estimate" not in j for j in listed)
    listed = api.client.get("/v1/fine_tuning/jobs", headers=api.alice, params={"include": "estimate"}).json()
    assert listed["data"][0]["estimate"] == est
    assert api.client.get(f"{url}/estimate", headers=api.bob).status_code == 404  # not bob's job
    # Two GPUs: priced as the engine runs it, weights split across both (FSDP).
    two = create(api, api.alice, f["id"], model="Qwen/Qwen3-8B", preset="balanced", gpus=2).json()
    assert two["estimate"]["vram_gib"]["weights"] < 0.6 * est["vram_gib"]["weights"]
