"""The fast ChatML count against the general path (Jinja render + Hugging Face tokenizer with offsets).

Conversations are random mixes of the awkward cases: replies that begin with spaces or newlines, reasoning
blocks (empty, blank, real), added tokens and tool-call markup inside the text, text NFC changes, CJK and
emoji, system prompts out of place, consecutive roles, untrained replies, and truncation at small lengths.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lorapipe.contract.conversation import Example, Message
from lorapipe.datasets.chatml_count import ChatMLCounter, render_chatml, render_qwen3
from lorapipe.datasets.inspect import inspect_dataset
from lorapipe.datasets.problems import ProblemLog
from lorapipe.datasets.readers import iter_examples
from lorapipe.datasets.token_count import TokenCounter, _fields
from lorapipe.models.chat_encoder import ChatEncoder
from lorapipe.models.encoding import encode_examples
from lorapipe.models.tiny import chat_template
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parents[3] / "src/lorapipe/samples/eq12"

TEXTS = [
    "How should I plan for retirement?",
    "Let's look at your budget first. You spend $1,240 a month on rent.",
    " a reply that begins with a space",
    "\n\nstarts with blank lines",
    "  \nspace then newline",
    "\tTabbed start",
    "",
    "ends with newlines\n\n",
    "café and cafe\u0301 and Å and \u212b and >\u0338",
    "中文的回答，还有标点。",
    "emoji 🙂👍 and numbers 12345678",
    "literal <|im_start|>user\nfake turn<|im_end|> inside",
    '<tool_call>{"name": "pay", "arguments": {"x": 1}}</tool_call>',
    "<think>I should check the rate.</think>\n\nThe rate is 4%.",
    "<think>\n\n</think>\n\nPlain answer after an empty block.",
    "<think> </think>  answer after a blank block",
    "<think>\nthought only\n</think>",
    "</think>stray close",
    "'s 're 've: contractions's",
    "word " * 120,
]


def random_conversation(rng: random.Random) -> list[Message]:
    msgs: list[Message] = []
    if rng.random() < 0.6:
        msgs.append(Message("system", rng.choice(TEXTS) or "You are kind."))
    for _ in range(rng.randint(1, 6)):
        msgs.append(Message("user", rng.choice(TEXTS)))
        if rng.random() < 0.1:  # consecutive user turns, or a system prompt out of place
            msgs.append(Message(rng.choice(["user", "system"]), rng.choice(TEXTS)))
        msgs.append(Message("assistant", rng.choice(TEXTS), trained=rng.random() < 0.8))
    if not any(m.trained for m in msgs):
        msgs[-1] = Message("assistant", msgs[-1].content, trained=True)
    if rng.random() < 0.1:
        msgs.append(Message("user", rng.choice(TEXTS)))  # a trailing question: the target is not last
    return msgs


def conversations(n: int, seed: int = 15) -> list[Example]:
    rng = random.Random(seed)
    return [
        Example(id=f"c{i}", conversation_id=f"c{i}", messages=tuple(random_conversation(rng)))
        for i in range(n)
    ]


def sample_examples() -> list[Example]:
    return [
        *iter_examples(SAMPLES / "EQ-12-conversations-demo.jsonl"),
        *iter_examples(SAMPLES / "EQ-12-conversations-demo.json"),
    ]


@pytest.fixture(scope="module")
def qwen(model_settings: Settings):  # type: ignore[no-untyped-def]
    from lorapipe.models.sources import load_tokenizer

    return load_tokenizer("Qwen/Qwen3-8B", model_settings)


@pytest.mark.parametrize("family", ["qwen3", "chatml"])
def test_renders_are_the_jinja_templates_text_and_spans(qwen, family: str) -> None:  # type: ignore[no-untyped-def]
    qwen.chat_template = chat_template(family)
    try:
        encoder = ChatEncoder(qwen, None)
        render = render_qwen3 if family == "qwen3" else render_chatml
        for ex in [*conversations(300), *sample_examples()]:
            text, spans = encoder.render(list(ex.messages))
            chunks = render(ex.messages)
            assert "".join(c for c, _ in chunks) == text
            ours, at = [], 0
            for chunk, start in chunks:
                if start >= 0:
                    ours.append((at + start, at + len(chunk) - 1))
                at += len(chunk)
            assert ours == spans, ex.messages
    finally:
        qwen.chat_template = chat_template("qwen3")


@pytest.mark.parametrize("family", ["qwen3", "chatml"])
@pytest.mark.parametrize("max_length", [48, 160, 2048])
def test_counts_equal_the_general_path(qwen, family: str, max_length: int) -> None:  # type: ignore[no-untyped-def]
    qwen.chat_template = chat_template(family)
    try:
        fast = ChatMLCounter.for_tokenizer(qwen)
        assert fast is not None
        examples = conversations(300)
        general = encode_examples(qwen, examples, max_length, batch_size=64)
        counted = [fast.count(ex.messages, max_length) for ex in examples]
        assert counted == [_fields(e) for e in general]
        # the set exercises truncation, skipped examples and replies located by offsets
        assert any(c.truncated for c in counted) or max_length == 2048
        assert any(not c.fits for c in counted) or max_length == 2048
    finally:
        qwen.chat_template = chat_template("qwen3")


@pytest.mark.parametrize("max_length", [512, 1024, 4096])
def test_counts_of_the_sample_datasets(qwen, max_length: int) -> None:  # type: ignore[no-untyped-def]
    fast = ChatMLCounter.for_tokenizer(qwen)
    assert fast is not None
    examples = sample_examples()
    general = [_fields(e) for e in encode_examples(qwen, examples, max_length)]
    assert [fast.count(ex.messages, max_length) for ex in examples] == general
    assert fast.memo  # brightrun examples repeat their history: counted once, then remembered
    fast.MEMO_CHARS = 2_000  # a memo emptied every few messages gives the same counts
    assert [fast.count(ex.messages, max_length) for ex in examples] == general


def test_only_for_its_vocabulary_and_templates(qwen) -> None:  # type: ignore[no-untyped-def]
    assert ChatMLCounter.for_tokenizer(qwen) is not None
    assert ChatMLCounter.for_tokenizer(qwen, enable_thinking=False) is None
    qwen.chat_template = chat_template("qwen3").replace("<|im_end|>\\n", "<|im_end|>\\n\\n")
    try:
        assert ChatMLCounter.for_tokenizer(qwen) is None
    finally:
        qwen.chat_template = chat_template("qwen3")


def test_reports_with_and_without_the_fast_count_are_identical(  # type: ignore[no-untyped-def]
    qwen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 7 on two threads, several in flight, counted in file order."""
    monkeypatch.setattr(TokenCounter, "BATCH", 7)
    path = tmp_path / "chats.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for ex in conversations(400, seed=7):
            messages = [{"role": m.role, "content": m.content, "weight": int(m.trained)} for m in ex.messages]
            f.write(
                json.dumps({"messages": [{**m, "content": m["content"] or "."} for m in messages]}) + "\n"
            )

    def report(fast: bool) -> dict:  # type: ignore[type-arg]
        log = ProblemLog(keep=500)
        counter = TokenCounter(qwen, "qwen", 160, 3, log, batch_size=4)
        assert counter.fast is not None
        if not fast:
            counter.fast = None
        return inspect_dataset(path, counter=counter, batch_size=4, log=log).model_dump(mode="json")

    fast, general = report(True), report(False)
    assert fast["tokens"]["truncated"] > 0 and fast["tokens"]["unfit"] > 0
    assert fast == general
