"""Isolation on every route of the OpenAPI document (/v1 and /api): bob gets 404 for each of alice's
objects, and no list, page or report of bob's shows any of them. A route with a path parameter
this test does not know fails it, so a new route cannot escape the check."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from api_harness import EQ12, Api

from lorapipe.backends.local import LocalBackend
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.services.notifications import notify_finished_jobs
from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy
from lorapipe.storage import ObjectStore

pytestmark = pytest.mark.integration

FAKE_ENGINE = Path(__file__).parents[1] / "jobs" / "fake_engine.py"
#: Path parameters that name public things (catalogue entries), not anyone's objects.
PUBLIC = {"/api/presets/{name}", "/api/models/{model_id}"}
#: Valid bodies, so ownership (not body validation) decides the answer.
BODIES = {
    ("post", "/api/datasets/{dataset_id}/tokens"): {"model": "lorapipe/tiny-qwen3"},
    ("post", "/api/datasets/{dataset_id}/estimate"): {"model": "Qwen/Qwen3-0.6B"},
    ("patch", "/api/datasets/{dataset_id}"): {"name": "renamed"},
    ("patch", "/api/adapters/{adapter_id}"): {"name": "renamed"},
}
#: Alice's own call is not repeated here: a live stream, and a tokenizer run (tested elsewhere).
ALICE_SKIP = ("/stream", "/tokens")


def alices_objects(api: Api, tmp_path: Path) -> dict[str, str]:
    """A file, dataset, succeeded job with its adapter and checkpoint, notification, webhook and a spare
    API key."""
    c, auth = api.client, api.alice
    f = c.post(
        "/v1/files",
        headers=auth,
        files={"file": ("eq.jsonl", EQ12.read_bytes())},
        data={"purpose": "fine-tune"},
    )
    file = f.json()
    body = {"model": "lorapipe/tiny-qwen3", "training_file": file["id"], "metadata": {"fake": "succeed"}}
    job = c.post("/v1/fine_tuning/jobs", headers=auth, json=body).json()
    import sys

    engine = create_engine_for(str(api.settings.database_url))
    sessions = make_sessionmaker(engine)
    backend = LocalBackend(tmp_path / "runs", engine_command=(sys.executable, str(FAKE_ENGINE)))
    rec = Reconciler(
        sessions,
        {"local": backend},
        ObjectStore.from_settings(api.settings),
        policy=ReconcilerPolicy(interval_s=0.05, retry_backoff_s=0),
    )
    deadline = time.monotonic() + 60
    while c.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=auth).json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        rec.tick()
        time.sleep(0.05)
    with session_scope(sessions) as s:
        assert notify_finished_jobs(s) >= 1
    engine.dispose()
    job = c.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=auth).json()
    adapters = c.get("/api/adapters", headers=auth).json()
    adapter_id = next(a["id"] for a in adapters["data"])
    notes = c.get("/api/notifications", headers=auth).json()
    hook = c.post("/api/webhooks", headers=auth, json={"url": "https://93.184.216.34/hook", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    # A second key of alice's: revoking it (her own call below) leaves the key these calls use.
    key = c.post("/api/keys", headers=auth, json={"name": "spare"})
    assert key.status_code == 201, key.text
    return {
        "file_id": file["id"],
        "dataset_id": file["dataset_id"],
        "job_id": job["id"],
        "model_id": job["fine_tuned_model"],
        "adapter_id": adapter_id,
        "path": "manifest.json",
        "notification_id": notes["data"][0]["id"],
        "webhook_id": hook.json()["id"],
        "key_id": key.json()["id"],
    }


def test_every_route_hides_other_users_objects(api: Api, tmp_path: Path) -> None:
    values = alices_objects(api, tmp_path)
    c = api.client
    paths = c.get("/openapi.json").json()["paths"]
    owned: list[tuple[str, str, dict[str, str]]] = []
    for route, operations in paths.items():
        names = re.findall(r"{(\w+)}", route)
        for method in operations:
            if not names:
                if method == "get":  # lists, pages, stats and reports: nothing of alice's
                    r = c.get(route, headers=api.bob)
                    assert r.status_code == 200, (route, r.status_code)
                    leaked = [v for v in values.values() if v != "manifest.json" and v in r.text]
                    assert not leaked, (route, leaked)
                continue
            if route in PUBLIC:
                continue
            unknown = set(names) - set(values)
            assert not unknown, f"{route}: unknown path parameter(s) {unknown}; add an object of alice's"
            body = BODIES.get((method, route), {})
            owned.append((method, re.sub(r"{(\w+)}", lambda m: values[m.group(1)], route), body))
    assert len(owned) >= 25
    for method, path, body in owned:
        r = c.request(method, path, headers=api.bob, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
    # Alice reaches each of them (deletes last, so the objects exist for the other routes).
    for method, path, body in sorted(owned, key=lambda item: item[0] == "delete"):
        if path.endswith(ALICE_SKIP):
            continue
        r = c.request(method, path, headers=api.alice, json=body)
        assert r.status_code != 404, (method, path, r.text[:200])
