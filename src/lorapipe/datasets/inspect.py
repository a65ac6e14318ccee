"""One pass over a dataset file: read, validate, count tokens with the base model's tokenizer, report.

Memory stays flat in the file size: examples are processed one at a time; what is kept per example
is a few integers (lengths) and a 64-bit content digest for duplicate detection.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lorapipe.contract.conversation import Example
from lorapipe.datasets.jsonstream import ByteSource
from lorapipe.datasets.problems import ProblemLog
from lorapipe.datasets.readers import ReadSummary, normalise_format, read_examples
from lorapipe.datasets.render import render_encoded
from lorapipe.datasets.report import DatasetReport, RenderedExample, TokenStats
from lorapipe.datasets.stats import histogram, padding_stats, percentiles
from lorapipe.settings import Settings, get_settings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from lorapipe.models.encoding import EncodedExample

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


class _TokenCounter:
    """Encodes examples in batches (the Rust tokenizer then uses several threads) and counts them."""

    BATCH = 64

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, name: str, max_length: int, samples: int, log: ProblemLog
    ) -> None:
        from lorapipe.models.encoding import encode_examples

        self.encode = encode_examples
        self.tok, self.name, self.max_length, self.want_samples = tokenizer, name, max_length, samples
        self.log = log
        self.pending: list[Example] = []
        self.lengths: list[int] = []
        self.total = self.trained = self.before = 0
        self.over = self.truncated = self.dropped = self.unfit = 0
        self.samples: list[RenderedExample] = []

    def add(self, ex: Example) -> None:
        self.pending.append(ex)
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        for ex, enc in zip(batch, self.encode(self.tok, batch, self.max_length), strict=True):
            self._count(ex, enc)

    def _count(self, ex: Example, enc: EncodedExample) -> None:
        self.lengths.append(enc.original_length)
        self.before += enc.original_length
        where: dict[str, Any] = {"record": ex.record, "line": ex.line}
        if enc.original_length > self.max_length:
            self.over += 1
        if not enc.fits:
            self.unfit += 1
            self.log.warning(
                "too_long",
                f"example {ex.id}: even without history, system + last user turn + target exceed "
                f"max_length {self.max_length} ({enc.original_length} tokens in all); it will be skipped",
                suggestion="raise max_length or shorten this reply",
                **where,
            )
            return
        if enc.truncated:
            self.truncated += 1
            self.dropped += enc.dropped_messages
            self.log.warning(
                "too_long",
                f"example {ex.id} is {enc.original_length} tokens, over max_length {self.max_length}: "
                f"its {enc.dropped_messages} oldest history messages will be dropped (the target is kept)",
                suggestion="raise max_length to keep the whole history",
                **where,
            )
        self.total += enc.length
        self.trained += enc.trained_tokens
        if len(self.samples) < self.want_samples:
            self.samples.append(render_encoded(self.tok, ex.id, enc.input_ids, enc.labels))

    def stats(self, batch_size: int) -> TokenStats:
        return TokenStats(
            tokenizer=self.name,
            max_length=self.max_length,
            total=self.total,
            trained=self.trained,
            trained_share=round(self.trained / self.total, 4) if self.total else 0.0,
            total_before_truncation=self.before,
            percentiles=percentiles(self.lengths),
            mean=round(self.before / len(self.lengths), 1) if self.lengths else 0.0,
            histogram=histogram(self.lengths, self.max_length),
            over_max_length=self.over,
            truncated=self.truncated,
            dropped_messages=self.dropped,
            unfit=self.unfit,
            padding=padding_stats(
                [min(n, self.max_length) for n in self.lengths], batch_size, self.max_length
            ),
        )


def inspect_dataset(
    source: Path | str | BinaryIO,
    *,
    format: str | None = None,
    model: str | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    max_length: int = 2048,
    batch_size: int = 8,
    samples: int = 3,
    keep_problems: int = 200,
    progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> DatasetReport:
    """Read ``source`` completely and report on it. Never raises for bad data: the report says it.

    ``model``: count tokens with this base model's tokenizer (a catalogue id, tiny id or local path);
    ``tokenizer``: an already loaded one (``model`` then only names it). Without either, ``tokens``
    is None.
    """
    format = normalise_format(format)  # a bad name fails before any work
    counter: _TokenCounter | None = None
    if tokenizer is None and model is not None:
        from lorapipe.models.sources import load_tokenizer

        tokenizer = load_tokenizer(model, settings or get_settings())
    summary = ReadSummary(log=ProblemLog(keep=keep_problems))
    log = summary.log
    if tokenizer is not None:
        counter = _TokenCounter(tokenizer, model or type(tokenizer).__name__, max_length, samples, log)
    digests: dict[int, int] = {}  # 64-bit prefix of the content digest -> first record
    roles: Counter[str] = Counter()
    meta: dict[str, Counter[str]] = {}
    chars = trained_chars = messages = 0
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(Path(source).open("rb")) if isinstance(source, str | Path) else source
        hashing = _Hashing(raw)
        for ex in read_examples(hashing, summary, format=format, progress=progress):
            digest = int(ex.content_hash()[:16], 16)
            if digest in digests:
                log.warning(
                    "duplicate",
                    f"example {ex.id} is an exact duplicate of record {digests[digest]}",
                    suggestion="remove duplicates: they over-weight one example",
                    record=ex.record,
                    line=ex.line,
                )
            else:
                digests[digest] = ex.record
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
