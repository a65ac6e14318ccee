"""Request dependencies: a database session per request, the object store, and the caller (from the
bearer API key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db.base import utcnow
from lorapipe.errors import AuthError
from lorapipe.jobs.accounts import ApiKey, User, hash_api_key
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    objects: ObjectStore
    #: Single-user mode (loopback only): requests without a key act as this user.
    single_user_id: str | None = None


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.lorapipe
    return state


def db_session(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Session]:
    session = state.sessions()
    try:
        yield session
    finally:
        session.close()


def current_user(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    session: Annotated[Session, Depends(db_session)],
) -> User:
    """The owner of the bearer key. Missing, unknown and revoked keys are all the same 401 (except in
    single-user mode, where a request without a key is the local user's)."""
    header = request.headers.get("authorization", "")
    if not header and state.single_user_id is not None:
        local = session.get(User, state.single_user_id)
        if local is not None:
            return local
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError(
            "missing API key: send 'Authorization: Bearer <key>'", hint="create one: lorapipe keys create"
        )
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key.strip())))
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.revoked_at is not None or user is None or user.disabled_at is not None:
        raise AuthError("invalid API key")
    now = utcnow()
    # Recorded at most once a minute: a write per request would contend with the reconciler.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.commit()
    return user


State = Annotated[AppState, Depends(app_state)]
DB = Annotated[Session, Depends(db_session)]
Caller = Annotated[User, Depends(current_user)]
