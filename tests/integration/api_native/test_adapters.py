"""Native adapter routes: list, detail, one file, zip of all, rename (followed by /v1/models), delete."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from native_app import Native, finish, make_adapter, start_attempt

pytestmark = pytest.mark.integration

FILES = {
    "adapter_model.safetensors": bytes(range(256)) * 4096,  # 1 MiB: more than one stream chunk
    "adapter_config.json": b'{"r": 8}',
    "README.md": b"# card\n",
    "nested/samples.json": b'{"samples": []}',
}


def succeeded_adapter(native: Native) -> tuple[str, str]:
    job_id = native.job("alice")
    start_attempt(native.sessions, job_id)
    finish(native.sessions, job_id)
    return job_id, make_adapter(native, "alice", job_id, FILES)


def test_list_detail_and_downloads(native: Native) -> None:
    job_id, adapter_id = succeeded_adapter(native)
    listing = native.client.get("/api/adapters", headers=native.auth("alice")).json()
    assert listing["total"] == 1 and listing["data"][0]["id"] == adapter_id
    detail = native.client.get(f"/api/adapters/{adapter_id}", headers=native.auth("alice")).json()
    assert detail["job_id"] == job_id and detail["bytes"] == sum(len(b) for b in FILES.values())
    assert [f["path"] for f in detail["files"]] == [*FILES, "manifest.json"]

    for path, data in FILES.items():
        r = native.client.get(f"/api/adapters/{adapter_id}/files/{path}", headers=native.auth("alice"))
        assert r.status_code == 200 and r.content == data, path
        assert "attachment" in r.headers["content-disposition"]
    manifest = native.client.get(
        f"/api/adapters/{adapter_id}/files/manifest.json", headers=native.auth("alice")
    )
    assert json.loads(manifest.content)["files"][0]["path"] == "adapter_model.safetensors"

    r = native.client.get(f"/api/adapters/{adapter_id}/download", headers=native.auth("alice"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in FILES} == FILES
        assert "manifest.json" in archive.namelist()


@pytest.mark.parametrize(
    "path", ["../api.db", "nested/../../api.db", "work/x", "missing.bin", "%2e%2e/api.db"]
)
def test_only_listed_files_can_be_downloaded(native: Native, path: str) -> None:
    _, adapter_id = succeeded_adapter(native)
    r = native.client.get(f"/api/adapters/{adapter_id}/files/{path}", headers=native.auth("alice"))
    assert r.status_code == 404, r.text


def test_a_listed_file_missing_on_disk_is_a_clear_error(native: Native) -> None:
    _, adapter_id = succeeded_adapter(native)
    location = native.tmp / next(p.name for p in native.tmp.iterdir() if p.name.startswith("adapter-"))
    (location / "README.md").unlink()
    r = native.client.get(f"/api/adapters/{adapter_id}/download", headers=native.auth("alice"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "object_not_found"


def test_rename_follows_into_v1_models_and_delete_hides(native: Native) -> None:
    job_id, adapter_id = succeeded_adapter(native)
    r = native.client.patch(
        f"/api/adapters/{adapter_id}", headers=native.auth("alice"), json={"name": "support-bot-v2"}
    )
    assert r.status_code == 200 and r.json()["name"] == "support-bot-v2"
    models = [m["id"] for m in native.client.get("/v1/models", headers=native.auth("alice")).json()["data"]]
    assert "support-bot-v2" in models
    job = native.client.get(f"/v1/fine_tuning/jobs/{job_id}", headers=native.auth("alice")).json()
    assert job["fine_tuned_model"] == "support-bot-v2"
    for bad in ({"name": "has space"}, {"name": ""}, {"name": "x", "extra": 1}):
        assert (
            native.client.patch(
                f"/api/adapters/{adapter_id}", headers=native.auth("alice"), json=bad
            ).status_code
            == 400
        )

    r = native.client.delete(f"/api/adapters/{adapter_id}", headers=native.auth("alice"))
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert native.client.get(f"/api/adapters/{adapter_id}", headers=native.auth("alice")).status_code == 404
    assert native.client.get("/api/adapters", headers=native.auth("alice")).json()["total"] == 0
    models = [m["id"] for m in native.client.get("/v1/models", headers=native.auth("alice")).json()["data"]]
    assert "support-bot-v2" not in models


def test_rename_to_a_taken_name_is_409(native: Native) -> None:
    _, first = succeeded_adapter(native)
    _, second = succeeded_adapter(native)
    native.client.patch(f"/api/adapters/{first}", headers=native.auth("alice"), json={"name": "taken"})
    r = native.client.patch(f"/api/adapters/{second}", headers=native.auth("alice"), json={"name": "taken"})
    assert r.status_code == 409 and r.json()["error"]["param"] == "name"


def test_the_vllm_check_reads_the_stored_adapter(native: Native, tmp_path: Path) -> None:
    """A real PEFT adapter of the tiny model, stored as a job's artifacts: it passes with its `vllm serve`
    command; a server limit under its rank fails with the reason; another user gets a 404."""
    from peft import LoraConfig, get_peft_model

    from lorapipe.models.sources import load_model
    from lorapipe.settings import Settings

    model = load_model("lorapipe/tiny-qwen3", Settings(data_dir=tmp_path / "data"), dtype="float32")
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, target_modules=["q_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "lorapipe/tiny-qwen3"
    files = {
        "adapter_config.json": json.dumps(config).encode(),
        "adapter_model.safetensors": (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes(),
    }
    job_id = native.job("alice")
    start_attempt(native.sessions, job_id)
    finish(native.sessions, job_id)
    adapter_id = make_adapter(native, "alice", job_id, files)

    ok = native.client.get(f"/api/adapters/{adapter_id}/check", headers=native.auth("alice")).json()
    assert ok["compatible"] is True and "vllm serve lorapipe/tiny-qwen3" in ok["command"], ok
    tight = native.client.get(
        f"/api/adapters/{adapter_id}/check", params={"max_lora_rank": 4}, headers=native.auth("alice")
    ).json()
    failed = {f["check"]: f["message"] for f in tight["findings"] if not f["ok"]}
    assert tight["compatible"] is False and "rank" in " ".join(failed), tight
    other = native.client.get(f"/api/adapters/{adapter_id}/check", headers=native.auth("bob"))
    assert other.status_code == 404
    wrong = native.client.get(
        f"/api/adapters/{adapter_id}/check", params={"for": "tgi"}, headers=native.auth("alice")
    )
    assert wrong.status_code == 400 and "for" in wrong.text
