"""One pass over a dataset file: read, validate, count tokens with the base model's tokenizer, report.

Memory stays flat in the file size: examples are processed one at a time; what is kept per example
is a 64-bit content digest and its record for duplicate detection (:mod:`.digests`, at most 32 bytes).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from lorapipe.contract.conversation import Example
from lorapipe.datasets.digests import DigestIndex
from lorapipe.datasets.jsonstream import ByteSource
from lorapipe.datasets.problems import ProblemLog
from lorapipe.datasets.readers import ReadSummary, normalise_format, read_examples
from lorapipe.datasets.report import DatasetReport, RenderedExample, TokenStats

METADATA_KEYS = ("persona_archetype", "emotional_arc_key", "training_topic_key", "source", "category")
MAX_METADATA_VALUES = 50


class _Hashing:
    """A read-through wrapper computing the sha256 of every byte read."""

    def __init__(self, raw: ByteSource) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data


class TokenCounting(Protocol):
    """What :func:`inspect_dataset` needs of a token counter (:class:`~.token_count.TokenCounter`)."""

    unfit: int
    samples: list[RenderedExample]

    def add(self, ex: Example) -> None: ...
    def flush(self) -> None: ...
    def stats(self, batch_size: int) -> TokenStats: ...


def inspect_dataset(
    source: Path | str | BinaryIO,
    *,
    format: str | None = None,
    counter: TokenCounting | None = None,
    batch_size: int = 8,
    keep_problems: int = 200,
    progress: Callable[[int], None] | None = None,
    log: ProblemLog | None = None,
) -> DatasetReport:
    """Read ``source`` completely and report on it. Never raises for bad data: the report says it.

    Without a ``counter`` (token statistics need a tokenizer: :func:`~.token_count.inspect_with_tokens`)
    ``tokens`` is None. ``log`` is where problems go (the counter's own warnings share it).
    """
    format = normalise_format(format)  # a bad name fails before any work
    summary = ReadSummary(log=log or ProblemLog(keep=keep_problems))
    log = summary.log
    digests = DigestIndex()  # 64-bit prefix of the content digest -> first record
    roles: Counter[str] = Counter()
    meta: dict[str, Counter[str]] = {}
    chars = trained_chars = messages = 0
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(Path(source).open("rb")) if isinstance(source, str | Path) else source
        hashing = _Hashing(raw)
        for ex in read_examples(hashing, summary, format=format, progress=progress):
            first = digests.first_seen(int(ex.content_hash()[:16], 16), ex.record)
            if first is not None:
                log.warning(
                    "duplicate",
                    f"example {ex.id} is an exact duplicate of record {first}",
                    suggestion="remove duplicates: they over-weight one example",
                    record=ex.record,
                    line=ex.line,
                )
            for m in ex.messages:
                roles[m.role] += 1
                chars += len(m.content)
                if m.trained:
                    trained_chars += len(m.content)
            messages += len(ex.messages)
            _count_metadata(meta, ex)
            if counter is not None:
                counter.add(ex)
        if counter is not None:
            counter.flush()
        sha = hashing.sha.hexdigest() if summary.complete else None

    return DatasetReport(
        source=str(source) if isinstance(source, str | Path) else getattr(source, "name", "<stream>"),
        format=summary.format,
        container=summary.container,
        bytes=summary.bytes_read,
        sha256=sha,
        complete=summary.complete,
        records=summary.records,
        conversations=summary.conversations,
        examples=summary.examples - (counter.unfit if counter is not None else 0),
        messages=messages,
        roles=dict(roles),
        characters=chars,
        trained_characters=trained_chars,
        errors=log.errors,
        warnings=log.warnings,
        problem_counts=dict(log.counts),
        problems=log.kept,
        metadata={k: dict(v.most_common()) for k, v in meta.items()},
        tokens=counter.stats(batch_size) if counter is not None else None,
        samples=counter.samples if counter is not None else [],
    )


def _count_metadata(meta: dict[str, Counter[str]], ex: Example) -> None:
    for key in METADATA_KEYS:
        value = ex.metadata.get(key)
        if not isinstance(value, str):
            continue
        c = meta.setdefault(key, Counter())
        if value in c or len(c) < MAX_METADATA_VALUES:
            c[value] += 1
        else:
            c["(other)"] += 1
