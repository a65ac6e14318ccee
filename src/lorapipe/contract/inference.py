"""What crosses the pipe between the web process and the inference worker, one JSON object a line.

Web -> worker (stdin):

- ``{"op": "generate", "id", "base", "adapter": {"key", "path"} | null, "messages", "max_tokens",
  "temperature", "top_p", "stop", "seed", "time_limit_s"}``: ``base`` is a model reference the service
  accepted, ``adapter.path`` a local folder with the adapter and the tokenizer it was trained with;
- ``{"op": "cancel", "id"}``: stop that request (its client went away); it ends with an ``error``.

Worker -> web (stdout): ``{"type": "ready"}`` once started, then per request ``delta`` events
(``{"type": "delta", "id", "text"}``) and exactly one ``done`` (``finish_reason``, ``prompt_tokens``,
``completion_tokens``) or ``error`` (``code``, ``message``, ``param``, ``kind``).

Plain dicts: both ends are lorapipe code, and this module (in `contract`, no torch) is all they share.
"""

from __future__ import annotations

from typing import Any

CANCELLED = "cancelled"
TIMEOUT = "timeout"
CONTEXT_LENGTH = "context_length_exceeded"


def error_event(
    request_id: str | None, code: str, message: str, kind: str, param: str | None = None
) -> dict[str, Any]:
    return {"type": "error", "id": request_id, "code": code, "message": message, "param": param, "kind": kind}
