"""Path and query parameters every route shares, bounded at the edge: ids and cursors (printable, no
NUL or control characters: PostgreSQL text cannot hold NUL), integers that fit the database's
columns, and dates whose next day exists. A value outside is a 400 naming the parameter, before any
service or database code runs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator

#: No C0 control character (NUL, tab, newline...) and no DEL; any other character is allowed.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
MAX_ID_LENGTH = 255
MAX_PATH_LENGTH = 1024
"""A file path inside an adapter's folder."""
INT4_MAX = 2**31 - 1
"""The largest value of a PostgreSQL ``integer`` (steps, event sequence numbers, seconds)."""
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)

ResourceId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=PRINTABLE,
        description="An object id: printable, 1-255 characters.",
    ),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_ID_LENGTH,
        pattern=PRINTABLE,
        description="Cursor: the id of the last object of the previous page.",
    ),
]


def _in_range(day: dt.date | None) -> dt.date | None:
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"the date must be between {FIRST_DAY} and {LAST_DAY}")
    return day


BoundedDate = Annotated[dt.date | None, AfterValidator(_in_range)]
"""A day between :data:`FIRST_DAY` and :data:`LAST_DAY` (or absent)."""

Include = Annotated[
    Literal["estimate"] | None,
    Query(
        description="Add a part a job leaves out by default: `estimate`, its frozen estimate (tens of KB)."
    ),
]
"""``?include=estimate``: a job object with its frozen estimate."""
