"""Every native route with an owned object answers 404 to another user (enumerated from the app's
routes, so a new route cannot be forgotten); dashboard totals cover all rows; the catalogue routes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from native_app import EQ12, Native, add_metrics, finish, make_adapter, start_attempt

pytestmark = pytest.mark.integration
PUBLIC_PARAMS = {"name", "model_id"}  # presets and catalogue models belong to nobody
# The routes of this area; notifications, webhooks and costs have their own isolation tests.
MINE = ("/api/datasets", "/api/jobs", "/api/adapters", "/api/presets", "/api/models", "/api/stats")


def alice_objects(native: Native) -> dict[str, str]:
    dataset = native.upload("alice", EQ12.read_bytes()).json()
    job_id = native.job("alice")
    start_attempt(native.sessions, job_id)
    finish(native.sessions, job_id)
    adapter_id = make_adapter(native, "alice", job_id, {"README.md": b"card"})
    return {"dataset_id": dataset["id"], "job_id": job_id, "adapter_id": adapter_id, "path": "README.md"}


def call(native: Native, method: str, path: str, user: str) -> Any:
    body: dict[str, Any] = {}
    if method == "PATCH":
        body["json"] = {"name": "renamed-by-" + user}
    if path.endswith("/tokens"):
        # A valid body that fails fast for the owner (unknown model), so no tokenizer is loaded.
        body["json"] = {"model": "no-such-model"}
    if path.endswith("/estimate"):
        body["json"] = {"model": "Qwen/Qwen3-8B"}  # the owner's answer: 409, no tokens counted yet
    return native.client.request(method, path, headers=native.auth(user), **body)


def test_every_owned_route_is_404_for_another_user(native: Native) -> None:
    ids = alice_objects(native)
    checked = []
    # Reads first, then writes, deletes last (a deleted object would 404 for alice too).
    order = {"GET": 0, "POST": 1, "PATCH": 2, "DELETE": 3}
    # The OpenAPI document lists every route (routers are nested, app.routes does not flatten them).
    paths = native.client.app.openapi()["paths"]
    pairs = sorted(
        ((m.upper(), p) for p, ops in paths.items() if p.startswith(MINE) for m in ops),
        key=lambda mp: order.get(mp[0], 9),
    )
    for method, template in pairs:
        params = set(re.findall(r"{(\w+)(?::\w+)?}", template))
        if not params or params <= PUBLIC_PARAMS:
            continue
        assert params <= ids.keys(), f"{template}: unknown path parameter, extend this test"
        path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: ids[m.group(1)], template)
        r = call(native, method, path, "bob")
        assert r.status_code == 404, (method, template, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found", (method, template)
        if method != "DELETE" and not template.endswith("/cancel"):
            # The owner reaches the object (the tokens call then refuses the unknown model).
            owner = call(native, method, path, "alice")
            expensive = template.endswith(("/tokens", "/estimate"))
            assert owner.status_code < 400 or expensive, (method, template, owner.text)
            assert owner.status_code != 404, (method, template)
        checked.append((method, template))
    assert len(checked) >= 14, checked

    for page in ("/ui/datasets/{dataset_id}", "/ui/jobs/{job_id}", "/ui/adapters/{adapter_id}/download"):
        url = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], page)
        native.client.cookies.set("lorapipe_key", native.keys["bob"])
        assert native.client.get(url).status_code == 404, page
        native.client.cookies.set("lorapipe_key", native.keys["alice"])
        assert native.client.get(url).status_code == 200, page
    native.client.cookies.clear()


def test_stats_are_totals_over_all_rows(native: Native) -> None:
    for n in range(23):  # more than one page of any list
        body = f'{{"messages":[{{"role":"user","content":"q{n}"}},{{"role":"assistant","content":"a"}}]}}\n'
        assert native.upload("alice", body.encode() * 2).status_code == 201
    native.upload("alice", b"[", name="broken")
    native.upload("bob", EQ12.read_bytes())
    job_ids = [native.job("alice") for _ in range(3)]
    attempt = start_attempt(native.sessions, job_ids[0])
    add_metrics(native.sessions, job_ids[0], attempt, 1, loss=1.0)
    finish(native.sessions, job_ids[0])
    make_adapter(native, "alice", job_ids[0], {"a.bin": b"12345"})
    native.client.post(f"/api/jobs/{job_ids[1]}/cancel", headers=native.auth("alice"))

    stats = native.client.get("/api/stats", headers=native.auth("alice")).json()
    # 23 small + broken + the 3 EQ-12 uploads behind the jobs (deduplicated to one dataset)
    assert stats["datasets"]["total"] == 25 and stats["datasets"]["by_status"]["error"] == 1
    assert stats["datasets"]["examples"] == 23 * 2 + 44
    assert stats["jobs"]["total"] == 3 and stats["jobs"]["active"] == 1
    assert stats["jobs"]["by_status"]["succeeded"] == 1 and stats["jobs"]["by_status"]["cancelled"] == 1
    assert stats["adapters"] == {"total": 1, "bytes": 5}
    listed = native.client.get("/api/datasets", headers=native.auth("alice")).json()
    assert len(listed["data"]) == 20 and listed["total"] == stats["datasets"]["total"]
    bob = native.client.get("/api/stats", headers=native.auth("bob")).json()
    assert bob["datasets"]["total"] == 1 and bob["jobs"]["total"] == 0 and bob["adapters"]["total"] == 0


def test_presets_and_models(native: Native) -> None:
    presets = native.client.get("/api/presets", headers=native.auth("alice")).json()["data"]
    names = [p["id"] for p in presets]
    assert names == ["conservative", "balanced", "aggressive", "cpu-smoke"]
    smoke = native.client.get("/api/presets/cpu-smoke", headers=native.auth("alice")).json()
    assert smoke["values"]["max_steps"] == 8 and smoke["config"]["preset"] == "cpu-smoke"
    assert smoke["source"] and smoke["reasons"]["max_steps"]
    assert native.client.get("/api/presets/turbo", headers=native.auth("alice")).status_code == 404

    models = native.client.get("/api/models", headers=native.auth("alice")).json()["data"]
    ids = {m["id"] for m in models}
    assert "lorapipe/tiny-qwen3" in ids and all(m["params_total_b"] > 0 for m in models)
    by_alias = native.client.get("/api/models/tiny-qwen3", headers=native.auth("alice")).json()
    assert by_alias["id"] == "lorapipe/tiny-qwen3"
    r = native.client.get("/api/models/nope/nope", headers=native.auth("alice"))
    assert r.status_code == 404 and r.json()["error"]["param"] == "model_id"
    assert native.client.get("/api/presets").status_code == 401
