"""What the native ``/api`` routes share: offset pages with a total, and a caller check that does not
hold a database session for the life of a long response (an event stream, a large download)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from lorapipe.api.deps import State, current_user
from lorapipe.db.accounts import User

T = TypeVar("T")

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


def offset_page(
    session: Session,
    query: Select[T],
    *,
    limit: int,
    offset: int,
    to_dict: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """A list object over ``query`` (already filtered and ordered): ``data``, ``total`` (every
    matching row, not just this page), ``has_more``, ``limit``, ``offset``."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows: Sequence[T] = session.scalars(query.limit(limit).offset(offset)).all()
    return {
        "object": "list",
        "data": [to_dict(row) for row in rows],
        "total": int(total),
        "has_more": offset + len(rows) < total,
        "limit": limit,
        "offset": offset,
    }
