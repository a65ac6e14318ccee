"""The key -> user cache of the request path: it answers repeat requests without authenticating the key
again, and a revocation (through the API, or from another process such as the CLI), a disabled user or a
stale entry is seen by the very next request: 401, never a cached pass. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import Api
from sqlalchemy import delete, select
from test_v1 import create, upload

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.accounts import ApiKey, AuthGeneration, User, hash_api_key
from lorapipe.services import accounts, key_cache
from lorapipe.services.context import AppState

pytestmark = pytest.mark.integration


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full authentication (a database check of the key) the cache asks for."""
    calls: list[str] = []
    real = key_cache.authenticate

    def counting(session: Any, authorization: str, single_user_id: str | None = None) -> User:
        calls.append(authorization)
        return real(session, authorization, single_user_id)

    monkeypatch.setattr(key_cache, "authenticate", counting)
    return calls


@pytest.fixture
def other_process(api: Api) -> Iterator[Any]:
    """Sessions on an engine of their own: what the CLI (another process) changes the database with."""
    engine = create_engine_for(api.settings.resolved_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _state(api: Api) -> AppState:
    state: AppState = api.client.app.state.lorapipe  # type: ignore[attr-defined]
    return state


def _job(api: Api) -> str:
    f = upload(api, api.alice)
    r = create(api, api.alice, f["id"])
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _key_id(sessions: Any, headers: dict[str, str]) -> str:
    secret = headers["Authorization"].removeprefix("Bearer ")
    with sessions() as s:
        return str(s.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_api_key(secret))))


def test_repeat_requests_are_answered_from_the_cache(api: Api, counted: list[str]) -> None:
    job = _job(api)
    counted.clear()
    for _ in range(5):
        assert api.client.get(f"/v1/fine_tuning/jobs/{job}", headers=api.alice).status_code == 200
        assert api.client.get("/v1/fine_tuning/jobs", headers=api.alice).status_code == 200
    assert len(counted) <= 1  # the first, at most (the upload already cached alice's key)


def test_a_key_revoked_through_the_api_is_refused_by_the_next_request(api: Api, other_process: Any) -> None:
    job = _job(api)
    url = f"/v1/fine_tuning/jobs/{job}"
    # A second key of alice's, used (so cached) on every kind of route, then revoked with the first.
    created = api.client.post("/api/keys", headers=api.alice, json={"name": "ci"}).json()
    second = {"Authorization": f"Bearer {created['secret']}"}
    for path in (url, f"{url}/events", "/api/jobs", f"/api/jobs/{job}"):
        assert api.client.get(path, headers=second).status_code == 200
    assert api.client.post(f"/api/keys/{created['id']}/revoke", headers=api.alice).status_code == 200
    for path in (url, f"{url}/events", "/api/jobs", f"/api/jobs/{job}", "/api/datasets"):
        r = api.client.get(path, headers=second)
        assert r.status_code == 401, (path, r.text)
    assert api.client.get(url, headers=api.alice).status_code == 200  # the other key is untouched


def test_a_key_revoked_by_another_process_is_refused_by_the_next_request(
    api: Api, other_process: Any
) -> None:
    job = _job(api)
    url = f"/v1/fine_tuning/jobs/{job}"
    for _ in range(3):
        assert api.client.get(url, headers=api.alice).status_code == 200
    assert len(_state(api).keys) >= 1
    # As `lorapipe keys revoke` does it: its own connection, this process is not told.
    with session_scope(other_process) as s:
        accounts.revoke_api_key(s, _key_id(other_process, api.alice))
    assert api.client.get(url, headers=api.alice).status_code == 401
    assert api.client.get("/v1/fine_tuning/jobs", headers=api.alice).status_code == 401
    assert api.client.get("/v1/fine_tuning/jobs", headers=api.bob).status_code == 200


def test_a_disabled_user_is_refused_by_the_next_request(api: Api, other_process: Any) -> None:
    job = _job(api)
    url = f"/v1/fine_tuning/jobs/{job}"
    assert api.client.get(url, headers=api.alice).status_code == 200
    with session_scope(other_process) as s:
        accounts.disable_user(s, "alice")
    assert api.client.get(url, headers=api.alice).status_code == 401
    assert api.client.post("/v1/fine_tuning/jobs", headers=api.alice, json={}).status_code == 401


def test_a_deleted_key_is_refused_even_without_a_generation(api: Api, other_process: Any) -> None:
    """Deleting rows (not a revocation: nothing moves the generation) must not leave a cached pass:
    a missing generation row turns the cache off, and a key deleted behind its back is still refused
    once its entry is older than the TTL."""
    job = _job(api)
    url = f"/v1/fine_tuning/jobs/{job}"
    assert api.client.get(url, headers=api.alice).status_code == 200
    with session_scope(other_process) as s:
        s.execute(delete(AuthGeneration))  # no generation: nothing may be trusted from the cache
        s.execute(delete(ApiKey).where(ApiKey.id == _key_id(other_process, api.alice)))
    assert api.client.get(url, headers=api.alice).status_code == 401
    with session_scope(other_process) as s:
        s.add(AuthGeneration(id=1, value=0))


def test_an_entry_lives_at_most_its_ttl(api: Api, counted: list[str]) -> None:
    job = _job(api)
    state = _state(api)
    state.keys.ttl_s = 0.0
    state.keys.clear()
    counted.clear()
    for _ in range(3):
        assert api.client.get(f"/v1/fine_tuning/jobs/{job}", headers=api.alice).status_code == 200
    assert len(counted) >= 3  # every request went to the database
