"""What one user may hold at once, through the real app: uploads and event streams past the user's
slots, token counts past the shared queue, and too many active jobs are a 429 with Retry-After, while
another user is served; an event stream ends when its key is revoked."""

from __future__ import annotations

import time

import pytest
from native_app import EQ12, Native

from lorapipe.db import session_scope
from lorapipe.services import accounts
from lorapipe.services.limits import stream_slots, token_count_slots, upload_slots

pytestmark = pytest.mark.integration


def refused(r) -> bool:  # type: ignore[no-untyped-def]
    return (
        r.status_code == 429
        and int(r.headers["Retry-After"]) >= 1
        and r.json()["error"]["code"] == "rate_limited"
    )


def test_uploads_past_a_users_slots_are_429_and_others_still_upload(native_sqlite: Native) -> None:
    n = native_sqlite
    slots = upload_slots(n.settings)
    for _ in range(slots.per_user):
        slots.acquire(n.user_ids["alice"])  # alice's slow uploads in flight
    try:
        assert refused(n.upload("alice", EQ12.read_bytes()))
        r = n.client.post(
            "/v1/files",
            headers=n.auth("alice"),
            files={"file": ("a.jsonl", EQ12.read_bytes())},
            data={"purpose": "fine-tune"},
        )
        assert refused(r)
        assert n.upload("bob", EQ12.read_bytes()).status_code == 201
    finally:
        for _ in range(slots.per_user):
            slots.release(n.user_ids["alice"])
    assert n.upload("alice", EQ12.read_bytes()).status_code == 201


def test_streams_past_a_users_slots_are_429(native_sqlite: Native) -> None:
    n = native_sqlite
    job = n.job("alice")
    slots = stream_slots(n.settings)
    for _ in range(slots.per_user):
        slots.acquire(n.user_ids["alice"])
    try:
        assert refused(n.client.get(f"/api/jobs/{job}/stream", headers=n.auth("alice")))
    finally:
        for _ in range(slots.per_user):
            slots.release(n.user_ids["alice"])


def test_a_token_count_waits_for_the_shared_slot_then_is_429(native_sqlite: Native) -> None:
    n = native_sqlite
    n.settings.token_count_wait_s = 1.0  # the app reads the same settings object
    dataset = n.upload("alice", EQ12.read_bytes()).json()["id"]
    slots = token_count_slots(n.settings)
    slots.acquire(n.user_ids["bob"])  # bob's count holds the only child process
    try:
        started = time.monotonic()
        r = n.client.post(
            f"/api/datasets/{dataset}/tokens", headers=n.auth("alice"), json={"model": "Qwen/Qwen3-8B"}
        )
        assert refused(r) and time.monotonic() - started >= n.settings.token_count_wait_s * 0.9
    finally:
        slots.release(n.user_ids["bob"])


def test_too_many_active_jobs_is_429(native_sqlite: Native) -> None:
    n = native_sqlite
    n.settings.max_active_jobs_per_user = 2
    for _ in range(n.settings.max_active_jobs_per_user):
        n.job("alice")
    file = n.client.get("/v1/files", headers=n.auth("alice")).json()["data"][0]["id"]
    r = n.client.post(
        "/v1/fine_tuning/jobs",
        headers=n.auth("alice"),
        json={"model": "lorapipe/tiny-qwen3", "training_file": file},
    )
    assert refused(r)
    n.job("bob")  # another user still creates jobs


def test_a_stream_ends_when_its_key_is_revoked(native_sqlite: Native) -> None:
    n = native_sqlite
    job = n.job("alice")
    with session_scope(n.sessions) as s:
        key, secret = accounts.create_api_key(s, s.get(accounts.User, n.user_ids["alice"]))
        key_id = key.id
    seen = b""
    with n.client.stream(
        "GET", f"/api/jobs/{job}/stream", headers={"Authorization": f"Bearer {secret}"}
    ) as r:
        assert r.status_code == 200
        revoked = False
        started = time.monotonic()
        for chunk in r.iter_bytes():
            seen += chunk
            if not revoked:
                with session_scope(n.sessions) as s:
                    accounts.revoke_api_key(s, key_id)
                revoked = True
            assert time.monotonic() - started < 30, "the stream outlived its revoked key"
    assert b"event: error" in seen and b"revoked" in seen
