"""What the public (response) schemas share: Unix-second timestamps, the two list shapes (an offset
page with a total, OpenAI's cursor list), and the receipt of a deletion.

Every ``*Public`` model is what the API returns and the dashboard renders; its fields are declared
in the order they appear in the JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Generic, Literal, Self, TypeVar, overload

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
Row = TypeVar("Row")


@overload
def ts(value: dt.datetime) -> int: ...
@overload
def ts(value: None) -> None: ...
@overload
def ts(value: dt.datetime | None) -> int | None: ...
def ts(value: dt.datetime | None) -> int | None:
    """Unix seconds, as OpenAI's ``created_at`` fields (None stays None)."""
    return int(value.timestamp()) if value is not None else None


class Page(BaseModel, Generic[T]):
    """One page of an offset-paged list, with the number of items over all pages."""

    object: Literal["list"] = "list"
    data: list[T]
    total: int = Field(description="Every matching item, not just this page.")
    has_more: bool
    limit: int
    offset: int

    @classmethod
    def of(cls, data: list[T], *, total: int, limit: int, offset: int) -> Self:
        return cls(data=data, total=total, has_more=offset + len(data) < total, limit=limit, offset=offset)


class CursorPage(BaseModel, Generic[T]):
    """OpenAI's list object: newest first; the next page starts ``after`` the last id."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None

    @classmethod
    def of(cls, data: list[T], *, has_more: bool) -> Self:
        ids = [getattr(item, "id", None) for item in data]
        return cls(
            data=data, has_more=has_more, first_id=ids[0] if ids else None, last_id=ids[-1] if ids else None
        )


class ItemList(BaseModel, Generic[T]):
    """A whole list, short enough to need no paging."""

    object: Literal["list"] = "list"
    data: list[T]


class Deleted(BaseModel):
    """The answer to a delete: which object, and that it is gone."""

    id: str
    object: Literal["dataset", "adapter", "webhook", "file"]
    deleted: Literal[True] = True


def rows_with_total(
    session: Session, query: Select[Row], *, limit: int, offset: int
) -> tuple[Sequence[Row], int]:
    """One slice of ``query`` (already filtered and ordered) and the number of rows it matches."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(limit).offset(offset)).all()
    return rows, int(total)
