"""Typed values the job service passes between layers (not ORM rows, not HTTP shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lorapipe.errors import ErrorKind, LorapipeError


class JobError(BaseModel):
    """Why a job failed: ``{code, message, param, kind}``; ``kind`` decides whether it is retried."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    param: str | None = None
    kind: ErrorKind = "system"

    @classmethod
    def from_exception(cls, exc: LorapipeError) -> JobError:
        return cls(code=exc.code, message=exc.message, param=exc.param, kind=exc.kind)

    @property
    def retryable(self) -> bool:
        """Capacity and system failures are retried (bounded); user errors and timeouts are not."""
        return self.kind in ("system", "capacity")

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()
