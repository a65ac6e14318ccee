"""Problems found while reading a dataset, and the log that counts them all but keeps the first N."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning"]


class Problem(BaseModel):
    """One finding, located as precisely as the source allows."""

    severity: Severity
    code: str = Field(description="Stable machine-readable code, e.g. invalid_json, unknown_role.")
    message: str
    suggestion: str = ""
    record: int | None = Field(default=None, description="0-based index of the record in the file.")
    line: int | None = Field(default=None, description="1-based line in the file.")
    column: int | None = Field(default=None, description="1-based column, where known.")
    path: str | None = Field(default=None, description="JSON path of the field, e.g. $.messages[2].role")

    def location(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}" + (f":{self.column}" if self.column else ""))
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.path:
            parts.append(self.path)
        return ", ".join(parts)


class ProblemLog:
    """Counts every problem; stores the first ``keep`` of them in full."""

    def __init__(self, keep: int = 200) -> None:
        self.keep = keep
        self.kept: list[Problem] = []
        self.counts: Counter[str] = Counter()
        self.errors = 0
        self.warnings = 0

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        *,
        suggestion: str = "",
        record: int | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
    ) -> None:
        self.counts[code] += 1
        if severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.kept) < self.keep:
            self.kept.append(
                Problem(
                    severity=severity,
                    code=code,
                    message=message,
                    suggestion=suggestion,
                    record=record,
                    line=line,
                    column=column,
                    path=path,
                )
            )

    error = functools.partialmethod(add, "error")
    warning = functools.partialmethod(add, "warning")
