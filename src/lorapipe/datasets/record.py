"""What a format converter gets for each record: where it is, and the log to report problems to."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lorapipe.contract.conversation import Example, Message
from lorapipe.datasets.problems import ProblemLog


@dataclass(slots=True)
class RecordContext:
    index: int
    """0-based index of the record among the file's data records."""
    line: int | None
    log: ProblemLog

    def error(self, code: str, message: str, suggestion: str = "", path: str | None = None) -> None:
        self.log.error(code, message, suggestion=suggestion, record=self.index, line=self.line, path=path)

    def warning(self, code: str, message: str, suggestion: str = "", path: str | None = None) -> None:
        self.log.warning(code, message, suggestion=suggestion, record=self.index, line=self.line, path=path)

    def text_field(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
        """A string field: reports missing / wrong type / empty and returns None for those."""
        if key not in obj or obj[key] is None:
            if required:
                self.error(
                    "missing_field", f"missing field '{key}'", f"add a string '{key}'", f"{path}.{key}"
                )
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.error(
                "wrong_type",
                f"'{key}' must be a string, got {type(value).__name__}",
                f"make '{key}' a JSON string",
                f"{path}.{key}",
            )
            return None
        if required and not value.strip():
            self.error("empty_field", f"'{key}' is empty", f"write the text of '{key}'", f"{path}.{key}")
            return None
        return value


Converter = Callable[[Any, RecordContext], Iterator[Example]]


def check_example(ex: Example, ctx: RecordContext) -> bool:
    """Checks every format shares; returns False when the example cannot be trained on."""
    ok = True
    if not any(m.trained for m in ex.messages):
        ctx.error(
            "nothing_to_train",
            "this example has no trained assistant message",
            "add an assistant reply, or set its weight to 1",
        )
        ok = False
    for i, m in enumerate(ex.messages):
        if m.role == "assistant" and not m.content.strip():
            ctx.error(
                "empty_assistant",
                f"assistant message {i} is empty",
                "write the reply or remove the turn",
                f"$.messages[{i}].content",
            )
            ok = False
        if i and m.role == ex.messages[i - 1].role:
            ctx.warning(
                "consecutive_roles",
                f"messages {i - 1} and {i} are both '{m.role}'",
                "merge consecutive turns of one speaker into one message",
                f"$.messages[{i}].role",
            )
        if m.role == "system" and i != 0:
            ctx.warning(
                "system_not_first",
                f"system message at position {i}",
                "put the system prompt first",
                f"$.messages[{i}]",
            )
    return ok


def single_example(ctx: RecordContext, rec: Mapping[str, Any], messages: Sequence[Message]) -> Example:
    """An example that is a conversation of its own (every format but brightrun)."""
    rid = rec.get("id")
    ex_id = str(rid) if isinstance(rid, str | int) and str(rid) else f"r{ctx.index}"
    meta = rec.get("metadata")
    return Example(
        id=ex_id,
        conversation_id=ex_id,
        messages=tuple(messages),
        metadata=dict(meta) if isinstance(meta, Mapping) else {},
        record=ctx.index,
        line=ctx.line,
    )
