"""The engine side of the event stream: writes each event (schema: :mod:`lorapipe.contract.events`) as
one JSON line, with a strictly increasing ``seq``, to the parent's stream (stdout, a file descriptor or a
file) and to the output directory's ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lorapipe.contract.events import EVENT_TYPES, Stage


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: send them as null so every consumer can parse the line."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def last_seq(path: Path) -> int:
    """The highest ``seq`` already written to an events file (0 when there is none)."""
    if not path.exists():
        return 0
    seq = 0
    for line in path.read_text("utf-8").splitlines():
        try:
            seq = max(seq, int(json.loads(line).get("seq", 0)))
        except (ValueError, AttributeError):
            continue  # a line cut by a hard kill: ignore it, the next event still increases
    return seq


class EventWriter:
    """Writes events to the parent's stream and to a log file, with a monotonically increasing seq."""

    def __init__(self, stream: IO[str] | None, log_path: Path | None) -> None:
        self._stream = stream
        self._log_path = log_path
        self._lock = threading.Lock()
        self._seq = last_seq(log_path) if log_path else 0
        self._log: IO[str] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8")

    @property
    def seq(self) -> int:
        return self._seq

    def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Write one event and flush it (a killed process must not lose what it already reported)."""
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        with self._lock:
            self._seq += 1
            event = {
                "seq": self._seq,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "type": type_,
            }
            event.update(_clean(fields))
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
            # The log first: whatever the parent has seen is then already on disk, so a run resumed
            # after a hard kill continues after it and never reuses a seq the parent holds.
            for out in (self._log, self._stream):
                if out is not None:
                    out.write(line)
                    out.flush()
        return event

    def relay(self, line: str) -> None:
        """Pass another writer's event line (a rank's) to the stream unchanged; later events follow its
        seq. Not logged: that writer logged it."""
        seq = json.loads(line).get("seq", 0)
        with self._lock:
            self._seq = max(self._seq, int(seq))
            if self._stream is not None:
                self._stream.write(line.rstrip("\n") + "\n")
                self._stream.flush()

    def follow(self) -> None:
        """Continue after every event another writer logged to the same file since this one last wrote."""
        if self._log_path is not None:
            with self._lock:
                self._seq = max(self._seq, last_seq(self._log_path))

    def stage(self, stage: Stage, message: str | None = None) -> None:
        self.emit("stage", stage=stage, **({"message": message} if message else {}))

    def warning(self, code: str, message: str) -> None:
        self.emit("warning", code=code, message=message)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
