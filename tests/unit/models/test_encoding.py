"""Assistant-only labels and history truncation, checked token by token on the real Qwen vocabulary."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from model_test_examples import eq12_examples

from lorapipe.contract.conversation import Example, Message
from lorapipe.models.encoding import IGNORE_INDEX, encode_example, encode_examples, has_generation_markers
from lorapipe.models.tiny import load_real_qwen_tokenizer
from lorapipe.settings import Settings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

pytestmark = pytest.mark.unit

IM_START, IM_END, THINK, END_THINK = 151644, 151645, 151667, 151668


@pytest.fixture(scope="module")
def qwen(model_settings: Settings) -> PreTrainedTokenizerBase:
    return load_real_qwen_tokenizer(model_settings)


@pytest.fixture(scope="module")
def qwen_no_markers(qwen: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """The same tokenizer with the generation markers removed from its template (computed-mask path)."""
    tok = qwen.__class__.from_pretrained(qwen.name_or_path)
    tok.chat_template = re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", qwen.chat_template)
    assert not has_generation_markers(tok)
    return tok


def example(*messages: Message) -> Example:
    return Example(id="e1", conversation_id="c1", messages=messages)


SYS = Message("system", "Be kind.")
U1 = Message("user", "What is 2 plus 3?")
A1 = Message("assistant", "2 plus 3 is 5.")
U2 = Message("user", "And 4 plus 4?")
A2 = Message("assistant", "4 plus 4 is 8.", trained=True)


def test_labels_token_by_token_with_real_qwen_ids(qwen: PreTrainedTokenizerBase) -> None:
    def enc(text: str) -> list[int]:
        return list(qwen.encode(text, add_special_tokens=False))

    newline = enc("\n")
    # What the template renders, piece by piece; a piece is labelled or not.
    pieces: list[tuple[list[int], bool]] = [
        ([IM_START, *enc("system\nBe kind."), IM_END, *newline], False),
        ([IM_START, *enc("user\nWhat is 2 plus 3?"), IM_END, *newline], False),
        ([IM_START, *enc("assistant\n2 plus 3 is 5."), IM_END, *newline], False),  # history: not trained
        ([IM_START, *enc("user\nAnd 4 plus 4?"), IM_END, *newline], False),
        ([IM_START, *enc("assistant\n"), THINK, *enc("\n\n"), END_THINK, *enc("\n\n")], False),
        ([*enc("4 plus 4 is 8."), IM_END], True),  # the target and its end-of-turn token
        (newline, False),
    ]
    expected_ids = [t for ids, _ in pieces for t in ids]
    expected_labels = [t if trained else IGNORE_INDEX for ids, trained in pieces for t in ids]

    out = encode_example(qwen, example(SYS, U1, A1, U2, A2), max_length=4096)

    assert out.input_ids == expected_ids
    assert out.labels == expected_labels
    assert out.trained_tokens == len(enc("4 plus 4 is 8.")) + 1
    assert qwen.decode([t for t in out.labels if t != IGNORE_INDEX]) == "4 plus 4 is 8.<|im_end|>"
    assert (out.fits, out.truncated, out.dropped_messages) == (True, False, 0)


def test_every_trained_message_is_labelled_and_untrained_ones_are_not(qwen: PreTrainedTokenizerBase) -> None:
    trained_a1 = Message("assistant", A1.content, trained=True)
    out = encode_example(qwen, example(SYS, U1, trained_a1, U2, A2), max_length=4096)
    labelled = qwen.decode([t for t in out.labels if t != IGNORE_INDEX])
    assert labelled == "2 plus 3 is 5.<|im_end|>4 plus 4 is 8.<|im_end|>"


def test_empty_think_block_is_never_trained(qwen: PreTrainedTokenizerBase) -> None:
    given = Message("assistant", "<think>\n\n</think>\n\nFine.", trained=True)
    for thinking in (None, True, False):
        out = encode_example(qwen, example(U1, given), 4096, enable_thinking=thinking)
        labelled = [t for t in out.labels if t != IGNORE_INDEX]
        assert THINK in out.input_ids
        assert THINK not in labelled and END_THINK not in labelled
        assert qwen.decode(labelled) == "Fine.<|im_end|>"


def test_reasoning_is_trained_in_thinking_mode_and_removed_without(qwen: PreTrainedTokenizerBase) -> None:
    given = Message("assistant", "<think>\nAdd them.\n</think>\n\n5.", trained=True)
    on = encode_example(qwen, example(U1, given), 4096, enable_thinking=True)
    assert (
        qwen.decode([t for t in on.labels if t != IGNORE_INDEX])
        == "<think>\nAdd them.\n</think>\n\n5.<|im_end|>"
    )
    off = encode_example(qwen, example(U1, given), 4096, enable_thinking=False)
    assert "Add them" not in qwen.decode(off.input_ids)
    assert qwen.decode([t for t in off.labels if t != IGNORE_INDEX]) == "5.<|im_end|>"


def test_computed_mask_equals_marker_mask_on_eq12(
    qwen: PreTrainedTokenizerBase, qwen_no_markers: PreTrainedTokenizerBase
) -> None:
    examples = eq12_examples()
    with_markers = list(encode_examples(qwen, examples, 100_000))
    computed = list(encode_examples(qwen_no_markers, examples, 100_000))
    assert [e.input_ids for e in computed] == [e.input_ids for e in with_markers]
    assert [e.labels for e in computed] == [e.labels for e in with_markers]
    assert all(e.trained_tokens > 0 for e in with_markers)


def reference_truncation(tok: PreTrainedTokenizerBase, ex: Example, max_length: int) -> tuple[int, bool]:
    """Brute force: (messages dropped, fits) for the longest history that fits, where a kept history
    is the system message + the messages from one user turn to the end (the target is last)."""
    msgs = list(ex.messages)
    if encode_example(tok, ex, 10**9).length <= max_length:
        return 0, True
    starts = [i for i in range(1, len(msgs) - 1) if msgs[i].role == "user"]
    for s in starts:
        if encode_example(tok, example(msgs[0], *msgs[s:]), 10**9).length <= max_length:
            return s - 1, True
    return starts[-1] - 1, False


@pytest.mark.parametrize("max_length", [700, 1500, 2048])
def test_truncation_keeps_target_and_longest_history_on_eq12(
    qwen: PreTrainedTokenizerBase, max_length: int
) -> None:
    examples = eq12_examples()
    whole = list(encode_examples(qwen, examples, 10**9))
    truncated = list(encode_examples(qwen, examples, max_length))
    assert any(t.truncated for t in truncated)
    for ex, full, cut in zip(examples, whole, truncated, strict=True):
        dropped, fits = reference_truncation(qwen, ex, max_length)
        assert (cut.dropped_messages, cut.fits) == (dropped, fits), ex.id
        assert cut.original_length == full.length
        target = [t for t in full.labels if t != IGNORE_INDEX]
        assert [t for t in cut.labels if t != IGNORE_INDEX] == target  # the target is never cut
        if cut.fits:
            assert cut.length <= max_length
        if cut.truncated:
            text = str(qwen.decode(cut.input_ids))
            assert text.startswith(
                "<|im_start|>system\n" + ex.messages[0].content + "<|im_end|>\n<|im_start|>user\n"
            )


def test_example_that_cannot_fit_is_reported_not_cut(qwen: PreTrainedTokenizerBase) -> None:
    out = encode_example(qwen, example(SYS, U1, A1, U2, A2), max_length=12)
    assert not out.fits
    assert out.truncated and out.dropped_messages == 2
    assert qwen.decode([t for t in out.labels if t != IGNORE_INDEX]) == "4 plus 4 is 8.<|im_end|>"


def test_batched_and_single_encoding_agree(qwen: PreTrainedTokenizerBase) -> None:
    examples = eq12_examples()[:10]
    batched = list(encode_examples(qwen, examples, 1024, batch_size=4))
    single = [encode_example(qwen, ex, 1024) for ex in examples]
    assert batched == single


def test_truncation_estimates_are_exact_for_qwen3_chats(qwen: PreTrainedTokenizerBase) -> None:
    """Truncation reads candidate lengths off one tokenization; on ChatML they must equal the real ones,
    so each truncated example costs one extra tokenization, not a search."""
    from lorapipe.models.chat_encoder import ChatEncoder
    from lorapipe.models.encoding import _estimated_lengths

    encoder = ChatEncoder(qwen, None)
    checked = 0
    for ex in eq12_examples():
        msgs = list(ex.messages)
        starts = [i for i in range(1, len(msgs) - 1) if msgs[i].role == "user"]
        if len(starts) < 2:
            continue
        whole = encoder.encode_many([msgs])[0]
        estimate = _estimated_lengths(encoder, msgs, whole, msgs[:1], starts, len(msgs) - 1)
        actual = [len(encoder.encode_many([[msgs[0], *msgs[s:]]])[0].ids) for s in starts]
        assert estimate is not None and [estimate(k) for k in range(len(starts))] == actual, ex.id
        checked += 1
    assert checked >= 10


def test_first_estimated_fit_is_the_first_fitting_candidate_in_order() -> None:
    """The bisection over never-increasing estimates picks what a scan in order picks, and gives up
    (the last candidate, no estimate) when one cannot be located."""
    from lorapipe.models.encoding import _first_estimated_fit

    for estimates in ([900, 700, 700, 500, 300, 100], [900, 800], [100], [600, 500, 499, 498]):
        for limit in (50, 100, 299, 300, 500, 650, 700, 1000):
            fits = [k for k, n in enumerate(estimates) if n <= limit]
            want = (fits[0], estimates[fits[0]]) if fits else (len(estimates) - 1, None)
            assert _first_estimated_fit(estimates.__getitem__, len(estimates) - 1, limit) == want
    assert _first_estimated_fit(lambda k: None, 3, 100) == (3, None)
    assert _first_estimated_fit(None, 3, 100) == (3, None)
