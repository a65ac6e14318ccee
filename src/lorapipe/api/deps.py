"""Request dependencies of the API: the service context, a database session per request, and the
caller (from the bearer API key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from lorapipe.db.accounts import User
from lorapipe.services.accounts import authenticate
from lorapipe.services.context import AppState


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
    """The owner of the bearer key (see :func:`lorapipe.services.accounts.authenticate`)."""
    return authenticate(session, request.headers.get("authorization", ""), state.single_user_id)


State = Annotated[AppState, Depends(app_state)]
DB = Annotated[Session, Depends(db_session)]
Caller = Annotated[User, Depends(current_user)]
