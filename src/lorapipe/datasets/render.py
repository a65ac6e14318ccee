"""Examples as the model sees them, with the trained spans marked (for the CLI and the web UI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lorapipe.datasets.report import RenderedExample, RenderedSegment

if TYPE_CHECKING:
    from rich.text import Text
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


def render_encoded(
    tokenizer: PreTrainedTokenizerBase, example_id: str, input_ids: Sequence[int], labels: Sequence[int]
) -> RenderedExample:
    """Cut the token sequence into runs of trained / untrained tokens and decode each run."""
    segments: list[RenderedSegment] = []
    start = 0
    for i in range(1, len(input_ids) + 1):
        if i == len(input_ids) or (labels[i] != IGNORE_INDEX) != (labels[start] != IGNORE_INDEX):
            text = tokenizer.decode(list(input_ids[start:i]), skip_special_tokens=False)
            segments.append(RenderedSegment(text=text, trained=labels[start] != IGNORE_INDEX))
            start = i
    trained = sum(1 for label in labels if label != IGNORE_INDEX)
    return RenderedExample(id=example_id, tokens=len(input_ids), trained_tokens=trained, segments=segments)


def to_rich(example: RenderedExample, max_chars: int = 1200) -> Text:
    """Terminal form: trained text bold green, the rest dim; long untrained spans are elided."""
    from rich.text import Text

    out = Text()
    for seg in example.segments:
        text = seg.text
        if not seg.trained and len(text) > max_chars:
            half = max_chars // 2
            text = f"{text[:half]} … [{len(text) - max_chars} chars] … {text[-half:]}"
        out.append(text, style="bold green" if seg.trained else "dim")
    return out
