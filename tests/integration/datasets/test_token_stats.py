"""Token statistics with the real Qwen vocabulary and chat template, checked against independent counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe.datasets.readers import iter_examples
from lorapipe.datasets.token_count import inspect_with_tokens
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


@pytest.fixture(scope="module")
def qwen_tokenizer(model_settings: Settings):  # type: ignore[no-untyped-def]
    from lorapipe.models.sources import load_tokenizer

    return load_tokenizer("Qwen/Qwen3-8B", model_settings)


def test_eq12_token_counts_match_an_independent_count(qwen_tokenizer) -> None:  # type: ignore[no-untyped-def]
    report = inspect_with_tokens(
        EQ12, tokenizer=qwen_tokenizer, model="Qwen/Qwen3-8B", max_length=4096, samples=2
    )
    assert report.ok and report.examples == 44
    t = report.tokens
    assert t is not None and t.truncated == 0 and t.unfit == 0
    # Trained tokens = each reply's own tokens + its end-of-turn token, counted without the template.
    replies = [ex.messages[-1].content for ex in iter_examples(EQ12)]
    independent = sum(len(qwen_tokenizer.encode(r, add_special_tokens=False)) + 1 for r in replies)
    assert abs(t.trained - independent) <= len(replies)  # at most a merge at each reply's edge
    assert t.total == t.total_before_truncation > t.trained
    p = t.percentiles
    assert p["min"] <= p["p50"] <= p["p90"] <= p["p95"] <= p["p99"] <= p["max"] < 4096
    assert sum(b.count for b in t.histogram) == 44
    assert 0 < t.padding.naive <= t.padding.length_grouped <= 1 and 0 < t.padding.packed <= 1


def test_rendered_sample_marks_exactly_the_reply(qwen_tokenizer) -> None:  # type: ignore[no-untyped-def]
    report = inspect_with_tokens(EQ12, tokenizer=qwen_tokenizer, max_length=4096, samples=1)
    (sample,) = report.samples
    ex = next(iter(iter_examples(EQ12)))
    trained_text = "".join(s.text for s in sample.segments if s.trained)
    assert trained_text == ex.messages[-1].content + "<|im_end|>"
    assert "".join(s.text for s in sample.segments).startswith("<|im_start|>system\n")


def test_truncation_drops_history_and_keeps_every_target(qwen_tokenizer) -> None:  # type: ignore[no-untyped-def]
    full = inspect_with_tokens(EQ12, tokenizer=qwen_tokenizer, max_length=4096, samples=0).tokens
    short = inspect_with_tokens(EQ12, tokenizer=qwen_tokenizer, max_length=1024, samples=0)
    t = short.tokens
    assert full is not None and t is not None
    assert t.over_max_length > 0 and t.truncated + t.unfit == t.over_max_length
    assert t.dropped_messages >= 2 * t.truncated  # whole user+assistant turns go
    kept = 44 - t.unfit
    assert short.examples == kept
    # Every kept example keeps its whole target, so trained tokens only fall by the skipped ones.
    assert t.trained <= full.trained and (t.unfit > 0 or t.trained == full.trained)
    assert short.problem_counts["too_long"] == t.over_max_length


@pytest.mark.parametrize("max_length", [512, 1024, 4096])
def test_streamed_statistics_equal_those_of_every_encoded_length(  # type: ignore[no-untyped-def]
    qwen_tokenizer, max_length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's figures equal the list-based ones computed from each example's own encoding,
    with batches of 5 encoded on the worker thread while the next ones are read (44 examples)."""
    from lorapipe.datasets import stats
    from lorapipe.datasets.token_count import TokenCounter
    from lorapipe.models.encoding import encode_examples

    monkeypatch.setattr(TokenCounter, "BATCH", 5)
    report = inspect_with_tokens(
        EQ12, tokenizer=qwen_tokenizer, max_length=max_length, samples=0, batch_size=4
    )
    t = report.tokens
    assert t is not None
    encoded = list(encode_examples(qwen_tokenizer, iter_examples(EQ12), max_length))
    lengths = [e.original_length for e in encoded]
    kept = [e for e in encoded if e.fits]
    assert t.total == sum(e.length for e in kept) and t.trained == sum(e.trained_tokens for e in kept)
    assert t.total_before_truncation == sum(lengths) and t.mean == round(sum(lengths) / len(lengths), 1)
    assert t.percentiles == stats.percentiles(lengths)
    assert t.histogram == stats.histogram(lengths, max_length)
    assert t.padding == stats.padding_stats([min(n, max_length) for n in lengths], 4, max_length)
    assert t.truncated == sum(e.truncated and e.fits for e in encoded)
    assert t.unfit == sum(not e.fits for e in encoded)
