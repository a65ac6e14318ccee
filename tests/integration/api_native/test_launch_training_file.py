"""A dataset uploaded through /api/datasets (the dashboard's upload) is a training file: its ``ds_`` id
is accepted by ``POST /v1/fine_tuning/jobs`` as well as a ``/v1/files`` id, owned and checked alike."""

from __future__ import annotations

import pytest
from native_app import EQ12, Native

pytestmark = pytest.mark.integration

TINY = "lorapipe/tiny-qwen3"


def test_a_dataset_id_names_the_training_file(native: Native) -> None:
    ds = native.upload("alice", EQ12.read_bytes(), name="EQ-12").json()
    assert ds["id"].startswith("ds_") and ds["status"] == "ready"
    body = {"model": TINY, "training_file": ds["id"], "preset": "cpu-smoke"}
    r = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("alice"), json=body)
    assert r.status_code == 200, r.text
    job = r.json()
    # The job records the dataset's file; the file leads back to the dataset (the job page's lineage).
    assert job["training_file"].startswith("file-")
    file = native.client.get(f"/v1/files/{job['training_file']}", headers=native.auth("alice")).json()
    assert file["status"] == "processed"
    native.client.cookies.set("lorapipe_key", native.keys["alice"])
    assert f"/ui/datasets/{ds['id']}" in native.client.get(f"/ui/jobs/{job['id']}").text
    # A second job on the same dataset reuses that file record; the estimate was frozen from the report.
    again = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("alice"), json=body).json()
    assert again["training_file"] == job["training_file"]
    url, alice = f"/api/jobs/{job['id']}", native.auth("alice")
    assert native.client.get(url, headers=alice, params={"include": "estimate"}).json()["estimate"]
    assert "estimate" not in native.client.get(url, headers=alice).json()  # only when asked


def test_a_files_id_still_works_and_the_dataset_id_is_owned(native: Native) -> None:
    assert native.job("alice")  # a /v1/files id, as before
    ds = native.upload("alice", EQ12.read_bytes()).json()
    body = {"model": TINY, "training_file": ds["id"], "preset": "cpu-smoke"}
    r = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("bob"), json=body)
    assert r.status_code == 404 and r.json()["error"]["param"] == "training_file"
    body["training_file"] = "ds_" + "0" * 32
    r = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("alice"), json=body)
    assert r.status_code == 404 and "no file or dataset" in r.json()["error"]["message"]


def test_a_dataset_that_failed_validation_is_refused(native: Native) -> None:
    bad = native.upload("alice", b'{"messages": [oops\n', name="bad").json()
    assert bad["status"] == "error"
    body = {"model": TINY, "training_file": bad["id"], "preset": "cpu-smoke"}
    r = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("alice"), json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == "training_file", r.text
