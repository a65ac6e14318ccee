"""A hot read as one statement: what a route hands :meth:`lorapipe.api.deps.Call.row` so that a client
polling an object costs the service one query, without a session or the ORM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, Row, Select


@dataclass(frozen=True)
class RowRead:
    """``statement``'s first row shaped by ``shape``. The statement's first column is the revocation
    generation (:func:`lorapipe.db.accounts.auth_generation_column`) and it binds ``owner_id`` (the
    caller, filled in by the API) besides ``params``; no row means nothing of that owner's."""

    statement: Select[Any]
    params: dict[str, Any]
    shape: Callable[[Row[Any]], BaseModel]

    def run(self, engine: Engine, owner_id: str, generation: int) -> BaseModel | None:
        """The answer for ``owner_id`` (a cached key's user, cached under ``generation``), or None: no
        row, or the generation read WITH the row is another (a revocation committed before this
        statement moved it, so the cached key may not be trusted: the caller authenticates again)."""
        with engine.connect() as conn:
            row = conn.execute(self.statement, {**self.params, "owner_id": owner_id}).first()
        if row is None or row[0] != generation:
            return None
        return self.shape(row)
