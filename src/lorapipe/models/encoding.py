"""Turn one canonical :class:`~lorapipe.contract.conversation.Example` into token ids and labels.

Assistant-only loss: a token carries a label only when it belongs to a message whose ``trained`` flag
is set, end-of-turn token included; an empty ``<think></think>`` block is never labelled (how the
spans are found: :mod:`lorapipe.models.chat_encoder`).

Examples longer than ``max_length`` lose whole turns from the oldest (after the system message), so the
conversation still starts with a user turn; the trained target is never cut. When even system + last
user turn + target do not fit, the result says so (``fits=False``) and the caller skips the example.

The tokenizer is passed in; this module imports nothing heavy at import time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lorapipe.contract.conversation import Example, Message
from lorapipe.errors import ConfigError
from lorapipe.models.chat_encoder import IGNORE_INDEX, ChatEncoder, Encoded, has_generation_markers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_THINK_BLOCK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)
_SENTINEL = "\ue000lorapipe-cut\ue000"  # private-use characters: never in real text


@dataclass(frozen=True, slots=True)
class EncodedExample:
    """Token ids and labels of one example, with what truncation did to it."""

    input_ids: list[int]
    labels: list[int]
    """Same length as ``input_ids``; ``-100`` where the token is not trained."""
    trained_tokens: int
    """Tokens that carry a label."""
    dropped_messages: int
    """History messages dropped to fit ``max_length`` (0 when nothing was dropped)."""
    truncated: bool
    """True when messages were dropped."""
    fits: bool
    """False when even system + last user turn + the trained target exceed ``max_length``: skip it."""
    original_length: int
    """Tokens of the whole example before truncation."""
    dropped_trained_messages: int = 0
    """Trained messages among the dropped ones (their labels are lost; the target never is)."""

    @property
    def length(self) -> int:
        return len(self.input_ids)


def encode_example(
    tokenizer: PreTrainedTokenizerBase,
    example: Example,
    max_length: int,
    *,
    enable_thinking: bool | None = None,
) -> EncodedExample:
    """Encode ``example`` for training with assistant-only labels, truncating history to ``max_length``.

    ``enable_thinking``: ``None`` renders messages as they are (a non-empty ``<think>`` block in a trained
    message is trained); ``False`` removes ``<think>`` blocks from assistant messages and renders the
    non-thinking form (Qwen3: an empty block before the answer, never trained); ``True`` keeps them
    and tells the template thinking is on.
    """
    return next(encode_examples(tokenizer, [example], max_length, enable_thinking=enable_thinking))


def encode_examples(
    tokenizer: PreTrainedTokenizerBase,
    examples: Iterable[Example],
    max_length: int,
    *,
    enable_thinking: bool | None = None,
    batch_size: int = 64,
) -> Iterator[EncodedExample]:
    """:func:`encode_example` over many examples, in order; tokenizes ``batch_size`` at a time, which
    lets the Rust tokenizer use several threads (about 1.4x on two cores)."""
    if max_length < 1:
        raise ConfigError(f"max_length must be >= 1, got {max_length}", param="max_length")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}", param="batch_size")
    encoder = ChatEncoder(tokenizer, enable_thinking)
    batch: list[list[Message]] = []
    for example in examples:
        batch.append(_prepare(example.messages, enable_thinking))
        if len(batch) == batch_size:
            yield from _encode_batch(encoder, batch, max_length)
            batch = []
    if batch:
        yield from _encode_batch(encoder, batch, max_length)


def _encode_batch(
    encoder: ChatEncoder, batch: list[list[Message]], max_length: int
) -> Iterator[EncodedExample]:
    for messages, encoded in zip(batch, encoder.encode_many(batch), strict=True):
        yield _fit(encoder, messages, encoded, max_length)


def _fit(encoder: ChatEncoder, messages: list[Message], whole: Encoded, max_length: int) -> EncodedExample:
    full = len(whole.ids)
    targets = [i for i, m in enumerate(messages) if m.trained and m.role == "assistant"]
    if full <= max_length or not targets:
        return _result(whole, messages, messages, full, fits=full <= max_length)

    target = targets[-1]
    head = messages[:1] if messages[0].role == "system" else []
    starts = [i for i in range(len(head), target) if messages[i].role == "user"]
    if not starts:
        return _result(whole, messages, messages, full, fits=False)

    def candidate(j: int) -> list[Message]:
        return head + messages[starts[j] : target + 1]

    cache: dict[int, Encoded] = {}

    def length(j: int) -> int:
        if j not in cache:
            cache[j] = encoder.encode_many([candidate(j)])[0]
        return len(cache[j].ids)

    last = len(starts) - 1
    estimate = _estimated_lengths(encoder, messages, whole, head, starts, target)
    j, estimated = _first_estimated_fit(estimate, last, max_length)
    while j < last and length(j) > max_length:
        j += 1
    if length(j) > max_length:
        return _result(cache[j], candidate(j), messages, full, fits=False)
    if estimated is None or length(j) != estimated:
        # The estimate was off, so more history may fit: dropping more turns never makes the text
        # longer, so bisect for the earliest start that fits.
        lo, hi = 0, j
        while lo < hi:
            mid = (lo + hi) // 2
            if length(mid) <= max_length:
                hi = mid
            else:
                lo = mid + 1
        j = lo
    return _result(cache[j], candidate(j), messages, full, fits=True)


def _first_estimated_fit(
    estimate: Callable[[int], int | None] | None, last: int, max_length: int
) -> tuple[int, int | None]:
    """The first candidate whose estimated length fits, and that estimate; ``(last, None)`` without
    estimates. Candidates drop more history as the index grows, so estimates never increase: a
    bisection asks for O(log turns) of them, each a render of the history up to its turn, where
    asking for all of them rendered the conversation once per turn (quadratic in the turns)."""
    if estimate is None:
        return last, None
    lo, hi, found = 0, last, None
    while lo <= hi:
        mid = (lo + hi) // 2
        n = estimate(mid)
        if n is None:
            return last, None
        if n <= max_length:
            hi, found = mid - 1, (mid, n)
        else:
            lo = mid + 1
    return found if found is not None else (last, None)


def _estimated_lengths(
    encoder: ChatEncoder,
    messages: list[Message],
    whole: Encoded,
    head: list[Message],
    starts: list[int],
    target: int,
) -> Callable[[int], int | None] | None:
    """Token length of truncation candidate ``k``, read off the whole example's encoding (no tokenizing).

    A candidate drops the messages between ``head`` and a user turn; where the template renders
    history the same whatever follows, that is one character range of the whole text, found by
    rendering the history up to the turn with a sentinel in its place; the encoding maps its ends to
    token indices. Exact when turns begin with a special token (ChatML); None (or a candidate's None)
    when it cannot be located, and the caller then measures candidates by tokenizing them."""
    if target + 1 != len(messages):
        return None  # trailing messages are dropped too, and the target may render differently as last

    def content_start(i: int) -> int | None:
        # Where message i's content begins in the whole text (the turn header before it is the same
        # for every user turn, so content starts delimit the same tokens as turn starts).
        text, _ = encoder.render([*messages[:i], Message(messages[i].role, _SENTINEL)])
        at = text.find(_SENTINEL)
        if (
            at < 0
            or not whole.text.startswith(text[:at])
            or not whole.text.startswith(messages[i].content, at)
        ):
            return None
        return at

    first_char = content_start(len(head))
    first = whole.first_token_from(first_char) if first_char is not None else None
    if first is None:
        return None

    def estimate(k: int) -> int | None:
        cut_char = content_start(starts[k])
        cut = whole.first_token_from(cut_char) if cut_char is not None else None
        return None if cut is None else len(whole.ids) - (cut - first)

    return estimate


def _prepare(messages: Sequence[Message], enable_thinking: bool | None) -> list[Message]:
    if enable_thinking is not False:
        return list(messages)
    return [
        Message(m.role, _THINK_BLOCK.sub("", m.content, count=1), m.trained) if m.role == "assistant" else m
        for m in messages
    ]


def _result(
    encoded: Encoded,
    kept: list[Message],
    messages: list[Message],
    original_length: int,
    *,
    fits: bool,
) -> EncodedExample:
    dropped = len(messages) - len(kept)
    kept_trained = sum(1 for m in kept if m.trained and m.role == "assistant")
    all_trained = sum(1 for m in messages if m.trained and m.role == "assistant")
    return EncodedExample(
        input_ids=encoded.ids,
        labels=encoded.labels,
        trained_tokens=len(encoded.labels) - encoded.labels.count(IGNORE_INDEX),
        dropped_messages=dropped,
        truncated=dropped > 0,
        fits=fits,
        original_length=original_length,
        dropped_trained_messages=all_trained - kept_trained,
    )


__all__ = ["IGNORE_INDEX", "EncodedExample", "encode_example", "encode_examples", "has_generation_markers"]
