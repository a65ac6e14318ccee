"""Names and deletes: adapter names unique per user, a job's future adapter name reserved from its
creation, ``DELETE /v1/files/{id}``, and deleted datasets, files and adapters leaving the object store
(a dataset's objects only once no active job trains on it)."""

from __future__ import annotations

from typing import Any

import pytest
from native_app import EQ12, Native, finish, make_adapter, start_attempt

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.jobs import Adapter, Job
from lorapipe.jobs.layout import adapter_prefix
from lorapipe.services.attempt_end import fine_tuned_model_name
from lorapipe.services.outbox_worker import OutboxWorker
from lorapipe.storage import ObjectStore

pytestmark = pytest.mark.integration


def _upload_file(native: Native, user: str) -> dict[str, str]:
    r = native.client.post(
        "/v1/files",
        headers=native.auth(user),
        files={"file": ("eq12.jsonl", EQ12.read_bytes())},
        data={"purpose": "fine-tune"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _create_job(native: Native, user: str, file_id: str) -> Any:
    body = {"model": "lorapipe/tiny-qwen3", "training_file": file_id, "preset": "cpu-smoke"}
    return native.client.post("/v1/fine_tuning/jobs", headers=native.auth(user), json=body)


def _rename(native: Native, user: str, adapter_id: str, name: str) -> Any:
    return native.client.patch(f"/api/adapters/{adapter_id}", headers=native.auth(user), json={"name": name})


def _succeeded(native: Native, job_id: str) -> None:
    start_attempt(native.sessions, job_id)
    finish(native.sessions, job_id)


def _dataset_objects(objects: ObjectStore, dataset_id: str) -> list[str]:
    return [k for k in objects.list() if dataset_id in k]


def test_adapter_names_are_unique_per_user(native: Native) -> None:
    alice_job, bob_job = native.job("alice"), native.job("bob")
    for job_id in (alice_job, bob_job):
        _succeeded(native, job_id)
    alice = make_adapter(native, "alice", alice_job, {"adapter_model.safetensors": b"a"})
    bob = make_adapter(native, "bob", bob_job, {"adapter_model.safetensors": b"b"})

    assert _rename(native, "alice", alice, "support-bot").status_code == 200
    # Another user's adapter name is neither taken for bob nor revealed to him.
    r = _rename(native, "bob", bob, "support-bot")
    assert r.status_code == 200, r.text

    alice_again = native.job("alice")
    _succeeded(native, alice_again)
    second = make_adapter(native, "alice", alice_again, {"adapter_model.safetensors": b"c"})
    r = _rename(native, "alice", second, "support-bot")
    assert r.status_code == 409 and r.json()["error"]["param"] == "name"


def test_a_jobs_adapter_name_is_reserved_from_creation(native: Native) -> None:
    done, queued = native.job("alice"), native.job("alice")
    _succeeded(native, done)
    adapter = make_adapter(native, "alice", done, {"adapter_model.safetensors": b"a"})
    with session_scope(native.sessions) as s:
        job = s.get(Job, queued)
        assert job is not None
        future = fine_tuned_model_name(job)

    r = _rename(native, "alice", adapter, future)
    assert r.status_code == 409 and r.json()["error"]["param"] == "name"
    # The reservation is alice's only.
    bob_job = native.job("bob")
    _succeeded(native, bob_job)
    bob = make_adapter(native, "bob", bob_job, {"adapter_model.safetensors": b"b"})
    assert _rename(native, "bob", bob, future).status_code == 200


def test_delete_v1_file_refuses_new_jobs_and_removes_its_objects(native: Native) -> None:
    objects = ObjectStore.from_settings(native.settings)
    file = _upload_file(native, "alice")
    assert _dataset_objects(objects, file["dataset_id"])  # the upload and its canonical copy

    assert native.client.delete(f"/v1/files/{file['id']}", headers=native.auth("bob")).status_code == 404
    r = native.client.delete(f"/v1/files/{file['id']}", headers=native.auth("alice"))
    assert r.status_code == 200, r.text
    assert r.json() == {"id": file["id"], "object": "file", "deleted": True}
    assert native.client.get(f"/v1/files/{file['id']}", headers=native.auth("alice")).status_code == 404
    refused = _create_job(native, "alice", file["id"])
    assert refused.status_code in (400, 404)
    assert refused.json()["error"]["param"] == "training_file"
    assert _dataset_objects(objects, file["dataset_id"]) == []  # no job used it: gone at once


def test_deleted_dataset_keeps_its_objects_until_its_last_active_job_ends(native: Native) -> None:
    objects = ObjectStore.from_settings(native.settings)
    file = _upload_file(native, "alice")
    first = _create_job(native, "alice", file["id"])
    assert first.status_code == 200, first.text
    job_id = first.json()["id"]

    r = native.client.delete(f"/api/datasets/{file['dataset_id']}", headers=native.auth("alice"))
    assert r.status_code == 200, r.text
    # its /v1 file went with it: neither retrievable nor listed
    assert native.client.get(f"/v1/files/{file['id']}", headers=native.auth("alice")).status_code == 404
    listed = native.client.get("/v1/files", headers=native.auth("alice")).json()["data"]
    assert file["id"] not in [f["id"] for f in listed]
    refused = _create_job(native, "alice", file["id"])
    assert refused.status_code in (400, 404)
    assert refused.json()["error"]["param"] == "training_file"
    worker = OutboxWorker(native.sessions, objects=objects)
    try:
        worker.tick()
        assert len(_dataset_objects(objects, file["dataset_id"])) == 2  # the queued job still needs them
        finish(native.sessions, job_id, JobStatus.CANCELLED)
        worker.tick()
        assert _dataset_objects(objects, file["dataset_id"]) == []
    finally:
        worker.close()
    # The ended job's page still links its (deleted) training file's dataset.
    native.client.cookies.set("lorapipe_key", native.keys["alice"])
    assert native.client.get(f"/ui/jobs/{job_id}").status_code == 200


def test_deleting_an_adapter_removes_its_files(native: Native) -> None:
    objects = ObjectStore.from_settings(native.settings)
    job_id = native.job("alice")
    _succeeded(native, job_id)
    adapter_id = make_adapter(native, "alice", job_id, {"adapter_model.safetensors": b"w"})
    prefix = adapter_prefix(job_id, "attempt-1")
    objects.put(f"{prefix}/adapter_model.safetensors", b"w")
    objects.put(f"{prefix}/manifest.json", b"{}")
    objects.put("adapters/unrelated/keep.bin", b"k")
    with session_scope(native.sessions) as s:
        row = s.get(Adapter, adapter_id)
        assert row is not None
        row.location = objects.url_for(prefix)

    r = native.client.delete(f"/api/adapters/{adapter_id}", headers=native.auth("alice"))
    assert r.status_code == 200, r.text
    assert objects.list(prefix) == []
    assert objects.exists("adapters/unrelated/keep.bin")
