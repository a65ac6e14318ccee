"""A validation finding: a stable code, a severity, and the file and line to look at."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem; ``line`` is 1-based (0 when the problem is about the whole file)."""

    file: str
    line: int
    code: str
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity} {self.code}: {self.message}"
