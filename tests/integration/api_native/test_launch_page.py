"""The new-job page as served: ready datasets, the catalogue with sizes, the presets with their reasons,
every TrainingConfig field with its range and help, only configured backends; a dataset link and a
failed job's "retry with changes" choose for the user; the estimate route answers before tokens are
counted when asked to approximate."""

from __future__ import annotations

import json
import re

import pytest
from native_app import EQ12, Native, finish

from lorapipe.contract.config import TrainingConfig
from lorapipe.contract.job_states import JobStatus
from lorapipe.services.launch_options import preset_label, preset_overrides

pytestmark = pytest.mark.integration


def _page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="launch-data">(.*?)</script>', html, re.S)
    assert found, "no launch data on the page"
    return json.loads(found.group(1))


def test_the_new_job_page_offers_every_choice(native_sqlite: Native) -> None:
    native = native_sqlite
    ds = native.upload("alice", EQ12.read_bytes(), name="EQ-12").json()
    native.upload("alice", b'{"messages": [oops\n', name="broken")
    native.client.cookies.set("lorapipe_key", native.keys["alice"])
    r = native.client.get("/ui/jobs/new", params={"dataset": ds["id"]})
    assert r.status_code == 200, r.text[:300]
    page = r.text
    assert f'<option value="{ds["id"]}" selected>' in page and "broken" not in page  # ready ones only
    assert "Qwen3 8B · 8.2B" in page and "30.5B (3.3B active)" in page  # sizes
    for preset in ("conservative", "balanced", "aggressive", "cpu-smoke"):
        assert f'id="preset-{preset}"' in page
    assert "8 steps x 2 examples" in page  # a reason of cpu-smoke
    data = _page_data(page)
    names = {f["name"] for f in data["options"]["fields"]}
    assert names == set(TrainingConfig.model_fields) - {"version", "preset"}
    rank = next(f for f in data["options"]["fields"] if f["name"] == "rank")
    assert rank["minimum"] == 1 and rank["maximum"] == 512 and "LoRA rank" in rank["help"]
    assert 'id="cfg-learning_rate"' in page and "&gt;0..0.01" in page  # range shown next to the field
    # Only configured backends can be chosen; the others are named with the reason.
    backend_select = page.split('id="nj-backend"')[1].split("</select>")[0]
    assert '<option value="local"' in backend_select and "runpod" not in backend_select
    assert "Not configured on this service: runpod" in page


def test_without_a_ready_dataset_the_page_says_upload(native_sqlite: Native) -> None:
    native_sqlite.client.cookies.set("lorapipe_key", native_sqlite.keys["alice"])
    page = native_sqlite.client.get("/ui/jobs/new").text
    assert 'href="/ui/datasets/upload"' in page and 'id="new-job-form"' not in page


def test_retry_with_changes_starts_from_the_failed_job(native_sqlite: Native) -> None:
    native = native_sqlite
    ds = native.upload("alice", EQ12.read_bytes(), name="EQ-12").json()
    body = {
        "model": "lorapipe/tiny-qwen3",
        "training_file": ds["id"],
        "preset": "cpu-smoke",
        "config": {"max_steps": 4},
        "suffix": "first",
    }
    job = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("alice"), json=body).json()
    finish(native.sessions, job["id"], JobStatus.CANCELLED)
    native.client.cookies.set("lorapipe_key", native.keys["alice"])
    page = native.client.get("/ui/jobs/new", params={"retry": job["id"]}).text
    choice = _page_data(page)["choice"]
    assert choice == {
        "dataset": ds["id"],
        "model": "lorapipe/tiny-qwen3",
        "preset": "cpu-smoke",
        "overrides": {"max_steps": 4},
        "backend": "local",
        "suffix": "first",
        "retry_of": job["id"],
    }
    assert 'id="preset-cpu-smoke" value="cpu-smoke" checked' in page
    # Someone else's job is not a starting point.
    native.client.cookies.set("lorapipe_key", native.keys["bob"])
    assert native.client.get("/ui/jobs/new", params={"retry": job["id"]}).status_code == 404


def test_the_estimate_approximates_before_tokens_are_counted(native_sqlite: Native) -> None:
    native = native_sqlite
    ds = native.upload("alice", EQ12.read_bytes()).json()
    url = f"/api/datasets/{ds['id']}/estimate"
    body = {"model": "lorapipe/tiny-qwen3", "preset": "cpu-smoke"}
    assert native.client.post(url, headers=native.auth("alice"), json=body).status_code == 409
    r = native.client.post(url, headers=native.auth("alice"), json={**body, "approximate": True})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["assumptions"][0].startswith("tokens approximated from")
    assert report["vram_gib"]["total"] > 0 and report["config"]["rank"] == 8


def test_a_preset_with_overrides_reads_as_such() -> None:
    smoke = TrainingConfig.model_validate({"preset": "cpu-smoke", "max_steps": 3}).model_dump(mode="json")
    assert smoke["preset"] == "custom"
    assert preset_label(smoke) == "cpu-smoke + 1 override (max_steps)"
    assert preset_overrides(smoke) == ("cpu-smoke", {"max_steps": 3})
    plain = TrainingConfig.model_validate({"preset": "balanced"}).model_dump(mode="json")
    assert preset_label(plain) == "balanced"
