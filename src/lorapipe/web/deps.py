"""Request dependencies of the pages: the service context, a database session per request, and the
browser's user (:func:`lorapipe.web.auth.page_user`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from lorapipe.db.accounts import User
from lorapipe.services.context import AppState
from lorapipe.web.auth import page_user


def page_state(request: Request) -> AppState:
    state: AppState = request.app.state.lorapipe
    return state


def page_session(state: Annotated[AppState, Depends(page_state)]) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


State = Annotated[AppState, Depends(page_state)]
DB = Annotated[Session, Depends(page_session)]
PageUser = Annotated[User, Depends(page_user)]
