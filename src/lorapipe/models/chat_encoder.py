"""Render a chat with its template and tokenize it once, labelling the tokens of trained messages.

Where the template marks generated text with ``{% generation %}`` the marked character spans are used;
otherwise each trained message's span is computed by rendering the conversation prefix by prefix.
Spans map to tokens through the fast tokenizer's character-to-token alignment. A leading empty
``<think></think>`` block is never labelled.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

from lorapipe.contract.conversation import Message
from lorapipe.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
"""Label of a token that does not count in the loss (PyTorch cross-entropy's ignore_index)."""

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
_EMPTY_THINK = re.compile(r"<think>\s*</think>\s*")

Span = tuple[int, int]
"""A character range [start, end) of the rendered text."""


def has_generation_markers(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer's chat template marks generated text with ``{% generation %}``."""
    template = tokenizer.chat_template
    return isinstance(template, str) and bool(_GENERATION_TAG.search(template))


class Encoded(NamedTuple):
    ids: list[int]
    labels: list[int]
    text: str
    encoding: Any
    """The ``tokenizers.Encoding``: token offsets stay in Rust until asked for, since converting them
    to Python tuples (and collecting them later) cost more than the rest of the labelling."""

    def first_token_from(self, char: int) -> int | None:
        """Index of the first token starting at or after character ``char`` (None if unknown)."""
        if char >= len(self.text):
            return len(self.ids)
        t = self.encoding.char_to_token(char)
        if t is None:
            return None
        return t if self.encoding.token_to_chars(t)[0] >= char else t + 1


class ChatEncoder:
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

    def encode_many(self, batch: list[list[Message]]) -> list[Encoded]:
        """Ids and labels of each message list (rendered one by one, tokenized together)."""
        texts: list[str] = []
        spans: list[list[Span]] = []
        for messages in batch:
            text, generation_spans = self.render(messages)
            texts.append(text)
            spans.append(self._trained_spans(messages, text, generation_spans))
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        out: list[Encoded] = []
        for enc, trained, text in zip(encodings, spans, texts, strict=True):
            ids = enc.ids  # each access converts the Rust vector to a new list: read once
            out.append(Encoded(ids, _labels(ids, enc, trained), text, enc))
        return out

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


def _labels(ids: list[int], encoding: Any, spans: list[Span]) -> list[int]:
    """Label every token that overlaps a trained character span.

    The tokens at both ends of a span come from the Rust encoding, so the cost is the trained tokens,
    not the whole text."""
    labels = [IGNORE_INDEX] * len(ids)
    for start, end in spans:
        if end <= start:
            continue
        first, last = encoding.char_to_token(start), encoding.char_to_token(end - 1)
        if first is None or last is None:  # a character no token covers: scan the offsets
            covered = [t for t, (a, b) in enumerate(encoding.offsets) if a < end and b > start and b > a]
            if not covered:
                continue
            first, last = covered[0], covered[-1]
        labels[first : last + 1] = ids[first : last + 1]
    return labels
