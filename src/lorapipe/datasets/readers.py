"""Read any supported dataset file into canonical :class:`Example` objects, one at a time.

The format is detected from the first data record (or forced with ``format=``); every later record
is checked against it, so a file mixing formats is reported record by record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lorapipe.contract.conversation import Example
from lorapipe.datasets import brightrun, chat_formats
from lorapipe.datasets.jsonstream import (
    BadLine,
    ByteSource,
    Container,
    ProgressFn,
    SourceError,
    open_container,
)
from lorapipe.datasets.problems import ProblemLog
from lorapipe.datasets.record import Converter, RecordContext
from lorapipe.errors import DatasetFormatError

FORMATS: dict[str, Converter] = {
    "brightrun-lora-v4": brightrun.conversation,
    "brightrun-lora-v4-jsonl": brightrun.pair,
    "openai-chat": chat_formats.openai_chat,
    "sharegpt": chat_formats.sharegpt,
    "alpaca": chat_formats.alpaca,
    "prompt-completion": chat_formats.prompt_completion,
}
"""Every format name accepted by ``format=`` and the converter of one record in it."""

# Aliases users type for the same thing.
_ALIASES = {"openai": "openai-chat", "chatml": "openai-chat"}
# Names that mean "detect": for brightrun the container decides between the document and JSONL.
_DETECT = {"auto", "brightrun"}


def detect_record_format(rec: Any) -> str | None:
    """The format one record looks like, from its keys; None when it matches none."""
    if not isinstance(rec, Mapping):
        return None
    if "_meta" in rec or ("current_user_input" in rec and "target_response" in rec):
        return "brightrun-lora-v4-jsonl"
    if "training_pairs" in rec:
        return "brightrun-lora-v4"
    if "messages" in rec:
        return "openai-chat"
    if "conversations" in rec and isinstance(rec["conversations"], list):
        return "sharegpt"
    if "instruction" in rec and "output" in rec:
        return "alpaca"
    if "prompt" in rec and "completion" in rec:
        return "prompt-completion"
    return None


def _family(fmt: str) -> str:
    return "brightrun" if fmt.startswith("brightrun") else fmt


def normalise_format(name: str | None) -> str | None:
    """Validate a user-given format name (``None`` or ``auto`` mean detect)."""
    if name is None:
        return None
    key = name.strip().lower().replace("_", "-")
    if key in _DETECT:
        return None
    if key in FORMATS or key in _ALIASES:
        return _ALIASES.get(key, key)
    raise DatasetFormatError(
        f"unknown format {name!r}",
        param="format",
        hint=f"use one of: auto, {', '.join(FORMATS)}",
    )


@dataclass
class ReadSummary:
    """What a read saw, filled in while the examples are consumed."""

    log: ProblemLog
    container: Container | None = None
    format: str | None = None
    records: int = 0
    examples: int = 0
    grouped_ids: set[str] = field(default_factory=set)
    """Conversation ids of formats where several examples share one (brightrun); others count 1 each."""
    single_conversations: int = 0
    bytes_read: int = 0
    complete: bool = False
    """False when reading stopped early at a broken structure (the report says where)."""

    @property
    def conversations(self) -> int:
        return len(self.grouped_ids) + self.single_conversations


class _Counting:
    """Counts bytes for the summary while passing them to the caller's progress function."""

    def __init__(self, summary: ReadSummary, progress: ProgressFn | None) -> None:
        self.summary, self.progress = summary, progress

    def __call__(self, n: int) -> None:
        self.summary.bytes_read = n
        if self.progress is not None:
            self.progress(n)


def read_examples(
    raw: ByteSource,
    summary: ReadSummary,
    *,
    format: str | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[Example]:
    """Yield the canonical examples of ``raw``; problems and counts go to ``summary``."""
    forced = normalise_format(format)
    log = summary.log
    try:
        container, records = open_container(raw, _Counting(summary, progress))
    except SourceError as e:
        log.error(e.code, e.message, suggestion=e.suggestion, line=e.line, column=e.column)
        return
    summary.container = container
    if container == "empty":
        log.error("empty_file", "the file is empty", suggestion="upload a file with at least one example")
        summary.complete = True
        return
    fmt = forced
    try:
        for raw_rec in records:
            index = summary.records
            summary.records += 1
            ctx = RecordContext(index=index, line=raw_rec.line, log=log)
            if isinstance(raw_rec.value, BadLine):
                bad = raw_rec.value
                code = "truncated_json" if bad.truncated else "invalid_json"
                log.error(
                    code,
                    bad.message,
                    suggestion="fix or remove this line",
                    record=index,
                    line=raw_rec.line,
                    column=bad.column,
                )
                continue
            seen = detect_record_format(raw_rec.value)
            if fmt is None:
                if seen is None:
                    ctx.error(
                        "unknown_format",
                        "this record matches no supported format",
                        f"supported: {', '.join(FORMATS)}; or pass --format",
                    )
                    continue
                fmt = seen
                summary.format = fmt
            elif seen is not None and _family(seen) != _family(fmt):
                ctx.error(
                    "mixed_formats",
                    f"record looks like {seen} but the file is {fmt}",
                    "convert every record to one format",
                )
                continue
            if fmt.startswith("brightrun"):
                # Document vs JSON Lines is decided by the record's shape, not by the first record.
                fmt = seen or fmt
            summary.format = summary.format or fmt
            for ex in FORMATS[fmt](raw_rec.value, ctx):
                summary.examples += 1
                if ex.conversation_id == ex.id:
                    summary.single_conversations += 1
                else:
                    summary.grouped_ids.add(ex.conversation_id)
                yield ex
        summary.complete = True
    except SourceError as e:
        done = summary.records
        log.error(
            e.code,
            f"{e.message}; the {done} complete records before it were read",
            suggestion=e.suggestion,
            line=e.line,
            column=e.column,
        )
    if summary.format is not None and summary.format.startswith("brightrun"):
        summary.format = "brightrun-lora-v4-jsonl" if container == "jsonl" else "brightrun-lora-v4"


def iter_examples(source: Path | str | BinaryIO, format: str | None = None) -> Iterator[Example]:
    """The examples of a file for callers that want no report: raises at the first error found."""
    summary = ReadSummary(log=ProblemLog(keep=1))
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(Path(source).open("rb")) if isinstance(source, str | Path) else source
        for ex in read_examples(raw, summary, format=format):
            if summary.log.errors:
                break
            yield ex
    if summary.log.errors:
        p = summary.log.kept[0]
        raise DatasetFormatError(f"{p.message} ({p.location()})", hint=p.suggestion or None)
