"""Turn one canonical :class:`~lorapipe.datasets.schema.Example` into token ids and labels.

Assistant-only loss: a token carries a label only when it belongs to a message whose ``trained`` flag
is set, end-of-turn token included. Where the chat template marks what the model generates with
``{% generation %}`` the conversation is rendered once and the marked character spans are mapped to
tokens through the tokenizer's offsets; otherwise the spans are computed by rendering the conversation
prefix by prefix. An empty ``<think></think>`` block is never labelled.

Examples longer than ``max_length`` lose whole turns from the oldest (after the system message), so the
conversation still starts with a user turn; the trained target is never cut. When even system + last
user turn + target do not fit, the result says so (``fits=False``) and the caller skips the example.

The tokenizer is passed in; this module imports nothing heavy at import time.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from lorapipe.datasets.schema import Example, Message
from lorapipe.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
"""Label of a token that does not count in the loss (PyTorch cross-entropy's ignore_index)."""

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
_EMPTY_THINK = re.compile(r"<think>\s*</think>\s*")
_THINK_BLOCK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)

Span = tuple[int, int]


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


def has_generation_markers(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template marks generated text with ``{% generation %}``."""
    template = tokenizer.chat_template
    return isinstance(template, str) and bool(_GENERATION_TAG.search(template))


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
    encoder = _Encoder(tokenizer, enable_thinking)
    batch: list[list[Message]] = []
    for example in examples:
        batch.append(_prepare(example.messages, enable_thinking))
        if len(batch) == batch_size:
            yield from _encode_batch(encoder, batch, max_length)
            batch = []
    if batch:
        yield from _encode_batch(encoder, batch, max_length)


def _encode_batch(encoder: _Encoder, batch: list[list[Message]], max_length: int) -> Iterator[EncodedExample]:
    for messages, encoded in zip(batch, encoder.encode_many(batch), strict=True):
        yield _fit(encoder, messages, encoded, max_length)


def _fit(encoder: _Encoder, messages: list[Message], whole: _Encoded, max_length: int) -> EncodedExample:
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

    cache: dict[int, _Encoded] = {}

    def length(j: int) -> int:
        if j not in cache:
            cache[j] = encoder.encode_many([candidate(j)])[0]
        return len(cache[j].ids)

    last = len(starts) - 1
    estimates = _estimated_lengths(encoder, messages, whole, head, starts, target)
    j = next((k for k, n in enumerate(estimates) if n <= max_length), last) if estimates else last
    while j < last and length(j) > max_length:
        j += 1
    if length(j) > max_length:
        return _result(cache[j], candidate(j), messages, full, fits=False)
    if not estimates or length(j) != estimates[j]:
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


def _estimated_lengths(
    encoder: _Encoder,
    messages: list[Message],
    whole: _Encoded,
    head: list[Message],
    starts: list[int],
    target: int,
) -> list[int]:
    """Token length of each truncation candidate, read off the whole example's offsets (no tokenizing).

    A candidate keeps the rendering of ``head`` and of ``messages[start:target + 1]``; where the template
    renders prefix by prefix, the dropped text is a character range of the whole text, and its tokens
    are counted by bisection. Exact when turns begin with a special token (ChatML); [] when the
    template is not prefix-stable."""
    starts_of_tokens = [o[0] for o in whole.offsets]

    def prefix_end(n: int) -> int | None:
        rendered, _ = encoder.render(messages[:n]) if n else ("", [])
        return len(rendered) if whole.text.startswith(rendered) else None

    head_end = prefix_end(len(head))
    tail = prefix_end(target + 1) if target + 1 < len(messages) else len(whole.text)
    if head_end is None or tail is None:
        return []
    kept_after_tail = len(whole.ids) - bisect.bisect_left(starts_of_tokens, tail)
    out: list[int] = []
    for start in starts:
        cut = prefix_end(start)
        if cut is None:
            return []
        dropped = bisect.bisect_left(starts_of_tokens, cut) - bisect.bisect_left(starts_of_tokens, head_end)
        out.append(len(whole.ids) - dropped - kept_after_tail)
    return out


def _prepare(messages: Sequence[Message], enable_thinking: bool | None) -> list[Message]:
    if enable_thinking is not False:
        return list(messages)
    return [
        Message(m.role, _THINK_BLOCK.sub("", m.content, count=1), m.trained) if m.role == "assistant" else m
        for m in messages
    ]


def _result(
    encoded: _Encoded,
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
        trained_tokens=sum(1 for x in encoded.labels if x != IGNORE_INDEX),
        dropped_messages=dropped,
        truncated=dropped > 0,
        fits=fits,
        original_length=original_length,
        dropped_trained_messages=all_trained - kept_trained,
    )


class _Encoded(NamedTuple):
    ids: list[int]
    labels: list[int]
    text: str
    offsets: list[tuple[int, int]]
    """Character span of each token in ``text``."""


class _Encoder:
    """Renders and tokenizes message lists with one tokenizer; picks the marker or computed path once."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, enable_thinking: bool | None) -> None:
        if not isinstance(tokenizer.chat_template, str):
            raise ConfigError(
                "the tokenizer has no chat template", param="base_model", hint="use a chat/instruct model"
            )
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; token offsets are needed for labels",
                param="base_model",
            )
        self.tokenizer = tokenizer
        self.backend = backend
        self.template: str = tokenizer.chat_template
        self.markers = has_generation_markers(tokenizer)
        self.kwargs: dict[str, Any] = dict(tokenizer.special_tokens_map)
        if enable_thinking is not None:
            self.kwargs["enable_thinking"] = enable_thinking
        eos = tokenizer.eos_token
        self.eos_text = eos if isinstance(eos, str) else None

    def render(self, messages: list[Message], *, generation_prompt: bool = False) -> tuple[str, list[Span]]:
        """The chat text and its ``{% generation %}`` character spans (empty without markers)."""
        from transformers.utils.chat_template_utils import render_jinja_template

        chat = [{"role": m.role, "content": m.content} for m in messages]
        # render_jinja_template is annotated as returning str; it returns (texts, spans per text).
        rendered: Any = render_jinja_template(
            conversations=[chat],
            chat_template=self.template,
            return_assistant_tokens_mask=self.markers,
            add_generation_prompt=generation_prompt,
            **self.kwargs,
        )
        texts, spans = rendered
        return texts[0], (list(spans[0]) if self.markers else [])

    def encode_many(self, batch: list[list[Message]]) -> list[_Encoded]:
        """Ids and labels of each message list (rendered one by one, tokenized together)."""
        texts: list[str] = []
        spans: list[list[Span]] = []
        for messages in batch:
            text, generation_spans = self.render(messages)
            texts.append(text)
            spans.append(self._trained_spans(messages, text, generation_spans))
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        return [
            _Encoded(enc.ids, _labels(enc.ids, enc.offsets, s), text, enc.offsets)
            for enc, s, text in zip(encodings, spans, texts, strict=True)
        ]

    def _trained_spans(self, messages: list[Message], text: str, generation_spans: list[Span]) -> list[Span]:
        assistant = [i for i, m in enumerate(messages) if m.role == "assistant"]
        if self.markers and len(generation_spans) == len(assistant):
            spans = [s for s, i in zip(generation_spans, assistant, strict=True) if messages[i].trained]
        else:
            spans = self._computed_spans(messages, text)
        return [_skip_empty_think(text, s) for s in spans]

    def _computed_spans(self, messages: list[Message], text: str) -> list[Span]:
        """Trained spans for templates without markers: each trained message's text is what the
        template adds after the prefix rendered with a generation prompt, up to its end-of-turn token."""
        spans: list[Span] = []
        for i, m in enumerate(messages):
            if not (m.trained and m.role == "assistant"):
                continue
            prompt, _ = self.render(messages[:i], generation_prompt=True)
            if not text.startswith(prompt):
                raise ConfigError(
                    "the chat template does not render conversations prefix by prefix, so trained tokens "
                    "cannot be located; use a template with {% generation %} markers",
                    param="base_model",
                )
            start = len(prompt)
            found = text.find(m.content, start) if m.content else start
            end = (found if found >= 0 else start) + len(m.content)
            if self.eos_text and text.startswith(self.eos_text, end):
                end += len(self.eos_text)
            spans.append((start, end))
        return spans


def _skip_empty_think(text: str, span: Span) -> Span:
    start, end = span
    match = _EMPTY_THINK.match(text, start, end)
    return (match.end(), end) if match else span


def _labels(ids: list[int], offsets: list[tuple[int, int]], spans: list[Span]) -> list[int]:
    """Label every token that overlaps a trained character span (offsets are in text order).

    Bisection finds each span's first token, so the cost is the trained tokens, not the whole text."""
    labels = [IGNORE_INDEX] * len(ids)
    for span_start, span_end in spans:
        t = bisect.bisect_right(offsets, span_start, key=lambda o: o[1])
        while t < len(offsets) and offsets[t][0] < span_end:
            if offsets[t][1] > offsets[t][0]:
                labels[t] = ids[t]
            t += 1
    return labels
