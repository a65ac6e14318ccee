"""Token statistics: a dataset counted with a base model's own tokenizer and chat template.

Imports the tokenizer stack (transformers) when used, so the web process never imports this module:
it runs it as a child process, ``python -m lorapipe.datasets.token_count REQUEST_JSON``, which prints
``{"report": ...}`` or ``{"error": ...}`` as its last line (see :mod:`lorapipe.services.dataset_tokens`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lorapipe.contract.conversation import Example
from lorapipe.datasets.chatml_count import ChatMLCounter, Counted
from lorapipe.datasets.inspect import inspect_dataset
from lorapipe.datasets.length_stats import LengthStats
from lorapipe.datasets.problems import ProblemLog
from lorapipe.datasets.render import render_encoded
from lorapipe.datasets.report import DatasetReport, RenderedExample, TokenStats
from lorapipe.errors import LorapipeError
from lorapipe.settings import Settings, get_settings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from lorapipe.models.encoding import EncodedExample


class TokenCounter:
    """Encodes examples in batches and counts them, in memory that does not grow with the file.

    A batch is counted on worker threads while the caller reads the next one: the tokenizers release
    the GIL, so reading, parsing and tokenizing use both cores (the fast count splits a batch over
    ``WORKERS`` threads). One batch is in flight at a time, and results are counted in file order.

    With the Qwen vocabulary and lorapipe's qwen3/chatml template the counts come from
    :class:`~.chatml_count.ChatMLCounter` (the same figures, several times faster); the first ``CHECK``
    examples are also encoded by the general path, and any difference switches it off for the file.
    """

    BATCH = 256
    CHECK = 16
    WORKERS = 2

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        name: str,
        max_length: int,
        samples: int,
        log: ProblemLog,
        batch_size: int = 8,
    ) -> None:
        from lorapipe.models.encoding import encode_examples

        self.encode = encode_examples
        self.tok, self.name, self.max_length, self.want_samples = tokenizer, name, max_length, samples
        self.log = log
        self.pending: list[Example] = []
        self.lengths = LengthStats(batch_size, max_length)
        self.total = self.trained = 0
        self.over = self.truncated = self.dropped = self.unfit = 0
        self.samples: list[RenderedExample] = []
        self._pool: ThreadPoolExecutor | None = None
        self._helpers: ThreadPoolExecutor | None = None
        self._inflight: tuple[list[Example], Future[list[EncodedExample | Counted]]] | None = None
        self.fast = ChatMLCounter.for_tokenizer(tokenizer)
        self._checked = self.fast is None

    def add(self, ex: Example) -> None:
        self.pending.append(ex)
        if len(self.pending) >= self.BATCH:
            self._submit()

    def flush(self) -> None:
        """Encode and count everything added so far."""
        self._submit()
        if self._inflight is not None:
            self._count_batch(*self._inflight)
            self._inflight = None
        for pool in (self._pool, self._helpers):
            if pool is not None:
                pool.shutdown()
        self._pool = self._helpers = None

    def _submit(self) -> None:
        batch, self.pending = self.pending, []
        previous = self._inflight
        self._inflight = None
        if batch:
            if not self._checked:  # before any worker uses the fast count
                self._checked = True
                self._check(batch[: self.CHECK])
            if self._pool is None:  # batches on one thread, halves of fast batches on the others
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="token-count")
                if self.WORKERS > 1:
                    self._helpers = ThreadPoolExecutor(
                        self.WORKERS - 1, thread_name_prefix="token-count-half"
                    )
            self._inflight = (batch, self._pool.submit(self._encode, batch))
        if previous is not None:
            self._count_batch(*previous)

    def _check(self, batch: list[Example]) -> None:
        fast = self.fast
        if fast is not None and any(
            _fields(e) != fast.count(ex.messages, self.max_length)
            for ex, e in zip(batch, self._general(batch), strict=True)
        ):
            self.fast = None

    def _encode(self, batch: list[Example]) -> list[EncodedExample | Counted]:
        """On the batch thread: the fast count gives half the batch to a helper thread (which never
        waits on anything, so no deadlock); the general path renders in Python under the GIL, where a
        second thread gains nothing."""
        fast, helpers = self.fast, self._helpers
        if fast is None or helpers is None:
            return self._general(batch)
        half = len(batch) // 2
        rest = helpers.submit(lambda: [fast.count(ex.messages, self.max_length) for ex in batch[half:]])
        first: list[EncodedExample | Counted] = [
            fast.count(ex.messages, self.max_length) for ex in batch[:half]
        ]
        return first + rest.result()

    def _general(self, batch: list[Example]) -> list[EncodedExample | Counted]:
        if not batch:
            return []
        return list(self.encode(self.tok, batch, self.max_length, batch_size=len(batch)))

    def _count_batch(self, batch: list[Example], done: Future[list[EncodedExample | Counted]]) -> None:
        for ex, enc in zip(batch, done.result(), strict=True):
            self._count(ex, enc)

    def _count(self, ex: Example, enc: EncodedExample | Counted) -> None:
        self.lengths.add(enc.original_length)
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
            if isinstance(enc, Counted):  # counted without ids: encode this one for its rendering
                (enc,) = self.encode(self.tok, [ex], self.max_length)
            self.samples.append(render_encoded(self.tok, ex.id, enc.input_ids, enc.labels))

    def stats(self, batch_size: int) -> TokenStats:
        if batch_size != self.lengths.batch_size:
            raise ValueError(
                f"padding was counted for batch_size {self.lengths.batch_size}, not {batch_size}"
            )
        lengths = self.lengths
        return TokenStats(
            tokenizer=self.name,
            max_length=self.max_length,
            total=self.total,
            trained=self.trained,
            trained_share=round(self.trained / self.total, 4) if self.total else 0.0,
            total_before_truncation=lengths.sum,
            percentiles=lengths.percentiles(),
            mean=lengths.mean(),
            histogram=lengths.histogram(),
            over_max_length=self.over,
            truncated=self.truncated,
            dropped_messages=self.dropped,
            unfit=self.unfit,
            padding=lengths.padding(),
        )


def _fields(enc: EncodedExample | Counted) -> Counted:
    if isinstance(enc, Counted):
        return enc
    return Counted(
        enc.original_length, enc.length, enc.trained_tokens, enc.dropped_messages, enc.truncated, enc.fits
    )


def inspect_with_tokens(
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
    """:func:`~lorapipe.datasets.inspect.inspect_dataset` plus token statistics.

    ``model``: count with this base model's tokenizer (a catalogue id, tiny id or local path);
    ``tokenizer``: an already loaded one (``model`` then only names it). Without either, ``tokens`` is None.
    """
    if tokenizer is None and model is not None:
        from lorapipe.models.sources import load_tokenizer

        tokenizer = load_tokenizer(model, settings or get_settings())
    log = ProblemLog(keep=keep_problems)
    counter = None
    if tokenizer is not None:
        name = model or type(tokenizer).__name__
        counter = TokenCounter(tokenizer, name, max_length, samples, log, batch_size=batch_size)
    return inspect_dataset(
        source, format=format, counter=counter, batch_size=batch_size, progress=progress, log=log
    )


def child(request: dict[str, Any]) -> int:
    """The counting child's work: inspect with tokens, print ``{"report": ...}`` or ``{"error": ...}``."""
    settings = Settings(data_dir=Path(request["data_dir"]), model_cache_dir=Path(request["model_cache_dir"]))
    try:
        with open(request["file"], "rb") as handle:
            report = inspect_with_tokens(
                handle,
                format=request["format"],
                model=request["model"],
                max_length=int(request["max_length"]),
                samples=int(request["samples"]),
                settings=settings,
            )
    except LorapipeError as exc:
        print(json.dumps({"error": exc.to_dict()}))
        return 1
    print(json.dumps({"report": report.model_dump(mode="json")}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(child(json.loads(sys.argv[1])))
