"""What the native ``/api`` routes share: paging parameters, and a caller check that does not hold a
database session for the life of a long response (an event stream, a download)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from lorapipe.api.deps import State, current_user
from lorapipe.db.accounts import User

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100).")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


def short_lived_caller(request: Request, state: State) -> User:
    """The bearer key's user, checked with a session closed before the handler runs.

    The request-scoped session of :data:`lorapipe.api.deps.Caller` stays open until the response
    ends; an event stream or a download would hold a pooled connection for minutes.
    """
    with state.sessions() as session:
        return current_user(request, state, session)


StreamCaller = Annotated[User, Depends(short_lived_caller)]
