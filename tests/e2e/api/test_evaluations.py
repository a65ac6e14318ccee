"""Adapter evaluation through a live service, on the local backend and on RunPod serverless (fake cloud,
real worker, S3 store): an adapter trained on EQ-12 is evaluated by ``lorapipe adapters eval`` (a job
like any other) on its held-out split — base vs adapter loss and perplexity, per EQ-12 category, the
end-of-turn check — and by ``POST /api/adapters/{id}/evaluations`` on a given file; another user's
adapter is a 404; evaluation jobs stay out of OpenAI's fine-tuning job list."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from typing import Any

import httpx
import pytest
from live_service import EQ12, LORAPIPE, Service

pytestmark = pytest.mark.e2e


def _wait(api: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = api.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not end within 600 s")


def test_an_adapter_is_evaluated_against_its_base_on_any_backend(
    training_service: tuple[Service, str],
) -> None:
    service, backend = training_service
    api = httpx.Client(base_url=service.base, headers=service.auth, timeout=60)
    with EQ12.open("rb") as handle:
        file_id = api.post(
            "/v1/files", files={"file": ("eq12.jsonl", handle)}, data={"purpose": "fine-tune"}
        ).json()["id"]
    job = api.post(
        "/v1/fine_tuning/jobs",
        json={
            "model": "lorapipe/tiny-qwen3",
            "training_file": file_id,
            "preset": "cpu-smoke",
            "backend": backend,
            "config": {"max_steps": 6, "sample_prompts": 0, "validation_split": 0.25, "max_length": 512},
        },
    ).json()
    assert _wait(api, job["id"])["status"] == "succeeded"
    adapter = next(a for a in api.get("/api/adapters").json()["data"] if a["job_id"] == job["id"])

    # The CLI, as a user runs it against the service: a job on the backend the adapter trained on.
    env = {**service.env, "LORAPIPE_API_URL": service.base, "LORAPIPE_API_KEY": service.key}
    done = subprocess.run(
        [
            *LORAPIPE,
            "adapters",
            "eval",
            adapter["id"],
            "--watch",
            "--json",
            "--generate",
            "2",
            "--max-new-tokens",
            "8",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    evaluation = json.loads(done.stdout)
    summary = evaluation["summary"]
    assert evaluation["status"] == "succeeded" and evaluation["file"] is None
    base, tuned = summary["base"], summary["adapter"]
    assert summary["examples"] > 0 and summary["tokens"] > 0
    assert math.isclose(base["perplexity"], math.exp(base["loss"]), rel_tol=1e-3)
    assert tuned["loss"] < base["loss"], summary  # six steps at 5e-4 move a random tiny model a lot
    # EQ-12 carries its scaffolding: every category holds examples that add up to the whole.
    personas = evaluation["categories"]["persona_archetype"]
    assert personas and sum(row["examples"] for row in personas) == summary["examples"]
    replies = evaluation["end_of_turn"]["replies"]
    assert len(replies) == 2 and all(r["adapter"]["tokens"] <= 8 for r in replies)
    assert tuned["ended_share"] == sum(r["adapter"]["ended"] for r in replies) / 2
    evaluation_job = api.get(f"/api/jobs/{evaluation['job_id']}").json()
    assert evaluation_job["kind"] == "evaluation" and evaluation_job["backend"] == backend

    # The API, on a given file (evaluated whole), listed newest first with the first one.
    made = api.post(f"/api/adapters/{adapter['id']}/evaluations", json={"file": file_id, "generate": 0})
    assert made.status_code == 201, made.text
    assert _wait(api, made.json()["job_id"])["status"] == "succeeded"
    listed = api.get(f"/api/adapters/{adapter['id']}/evaluations").json()["data"]
    assert [e["id"] for e in listed] == [made.json()["id"], evaluation["id"]]
    whole = listed[0]["summary"]
    assert whole["examples"] > summary["examples"] and whole["adapter"]["ended_share"] is None

    # Evaluations are not fine-tuning jobs in OpenAI's list.
    ids = [j["id"] for j in api.get("/v1/fine_tuning/jobs", params={"limit": 100}).json()["data"]]
    assert ids == [job["id"]]

    # Another user's adapter is not found, to list or to evaluate; bad fields are a 400 naming them.
    subprocess.run([*LORAPIPE, "users", "create", "other"], env=service.env, check=True, capture_output=True)
    other_key = (
        subprocess.run(
            [*LORAPIPE, "keys", "create", "--user", "other"], env=service.env, check=True, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    other = httpx.Client(base_url=service.base, headers={"Authorization": f"Bearer {other_key}"}, timeout=60)
    assert other.post(f"/api/adapters/{adapter['id']}/evaluations").status_code == 404
    assert other.get(f"/api/adapters/{adapter['id']}/evaluations").status_code == 404
    bad = api.post(f"/api/adapters/{adapter['id']}/evaluations", json={"generate": -1})
    assert bad.status_code == 400 and "generate" in bad.text
    missing = api.post(f"/api/adapters/{adapter['id']}/evaluations", json={"file": "file-nope"})
    assert missing.status_code == 404 and "file" in missing.text


def test_the_cli_names_an_unknown_adapter(service: Service) -> None:
    env = {**os.environ, **service.env, "LORAPIPE_API_URL": service.base, "LORAPIPE_API_KEY": service.key}
    done = subprocess.run(
        [*LORAPIPE, "adapters", "eval", "adapter-nope"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "adapter-nope" in done.stderr
