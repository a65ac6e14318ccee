"""Readers: every format into the canonical schema, EQ-12 converted correctly, problems located."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest

from lorapipe.datasets import jsonstream
from lorapipe.datasets.problems import ProblemLog
from lorapipe.datasets.readers import ReadSummary, iter_examples, normalise_format, read_examples
from lorapipe.errors import DatasetFormatError

pytestmark = pytest.mark.unit

EQ12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12"


def read(data: bytes | str, format: str | None = None) -> tuple[list, ReadSummary]:
    raw = io.BytesIO(data.encode() if isinstance(data, str) else data)
    summary = ReadSummary(log=ProblemLog())
    return list(read_examples(raw, summary, format=format)), summary


def jsonl(*records: object) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def test_eq12_both_files_give_identical_examples() -> None:
    results = {}
    for name in ("EQ-12-conversations-demo.json", "EQ-12-conversations-demo.jsonl"):
        with (EQ12 / name).open("rb") as f:
            s = ReadSummary(log=ProblemLog())
            examples = list(read_examples(f, s))
        assert s.log.errors == 0 and s.log.warnings == 0
        assert (s.examples, s.conversations) == (44, 12)
        results[name] = [ex.to_dict() for ex in examples]
    assert results["EQ-12-conversations-demo.json"] == results["EQ-12-conversations-demo.jsonl"]


def test_eq12_user_turn_is_never_repeated_and_only_the_target_is_trained() -> None:
    examples = list(iter_examples(EQ12 / "EQ-12-conversations-demo.json"))
    for ex in examples:
        roles = [m.role for m in ex.messages]
        assert roles[0] == "system"
        assert all(a != b for a, b in itertools.pairwise(roles)), ex.id
        assert roles[-1] == "assistant" and roles[-2] == "user"
        assert [m.trained for m in ex.messages].count(True) == 1 and ex.messages[-1].trained
    # History keeps order: turn 4's example holds turn 2's reply before the turn 3 question.
    ex = next(e for e in examples if e.id == "fp_conversation_turn4_85d3e584")
    assert [m.role for m in ex.messages] == ["system", "user", "assistant", "user", "assistant"]
    turn2 = next(e for e in examples if e.id == "fp_conversation_turn2_85d3e584")
    assert ex.messages[2].content == turn2.messages[-1].content
    assert ex.metadata["emotional_arc_key"] == "crisis_to_referral"


def test_openai_chat_with_weights_and_tools() -> None:
    rec = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "old", "weight": 0},
            {"role": "user", "content": [{"type": "text", "text": "again"}]},
            {"role": "assistant", "content": "new"},
        ],
        "tools": [],
    }
    (ex,), s = read(jsonl(rec))
    assert s.format == "openai-chat"
    assert [(m.role, m.trained) for m in ex.messages] == [
        ("system", False),
        ("user", False),
        ("assistant", False),
        ("user", False),
        ("assistant", True),
    ]
    assert ex.messages[3].content == "again"
    assert s.log.counts == {"tools_ignored": 1}


@pytest.mark.parametrize("who", ["human", "user", "gpt", "chatgpt", "assistant", "bing", "bard", "system"])
def test_sharegpt_role_names_seen_in_the_wild(who: str) -> None:
    turns = [{"from": who, "value": "x"}, {"from": "gpt", "value": "y"}]
    if who in ("gpt", "chatgpt", "assistant", "bing", "bard"):
        turns = [{"from": "human", "value": "q"}, {"from": who, "value": "y"}]
    (ex,), s = read(json.dumps([{"conversations": turns}]))
    assert s.format == "sharegpt" and s.container == "array"
    assert ex.messages[-1].role == "assistant" and ex.messages[-1].trained


def test_alpaca_and_prompt_completion() -> None:
    (ex,), s = read(jsonl({"instruction": "Add", "input": "2 and 3", "output": "5"}))
    assert s.format == "alpaca"
    assert [m.content for m in ex.messages] == ["Add\n\n2 and 3", "5"]
    (ex,), s = read(jsonl({"prompt": "p", "completion": "c"}))
    assert s.format == "prompt-completion" and ex.messages[1].trained


def test_forced_format_and_unknown_format_name() -> None:
    exs, s = read(jsonl({"prompt": "p", "completion": "c"}), format="alpaca")
    assert exs == [] and s.log.counts["mixed_formats"] == 1
    with pytest.raises(DatasetFormatError) as e:
        normalise_format("csv")
    assert e.value.param == "format" and "openai-chat" in str(e.value)


def test_duplicated_role_warning_and_json_path() -> None:
    rec = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
        ]
    }
    _, s = read(jsonl(rec))
    (p,) = s.log.kept
    assert (p.code, p.severity, p.path, p.line) == ("consecutive_roles", "warning", "$.messages[1].role", 1)


def test_truncated_jsonl_counts_complete_records() -> None:
    text = jsonl({"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}) + '{"prompt": "e'
    exs, s = read(text)
    assert len(exs) == 2
    (p,) = s.log.kept
    assert (p.code, p.line) == ("truncated_json", 3)


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_json_array_streaming_is_exact_at_any_chunk_boundary(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK_BYTES", chunk)
    recs = [{"prompt": f"p{i} é ✓", "completion": "c" * i, "n": 12345.5} for i in range(1, 21)]
    text = json.dumps({"meta": {"x": [1, 2]}, "data": recs}, indent=2)
    exs, s = read(text)
    assert s.container == "object" and s.log.errors == 0
    assert [e.messages[1].content for e in exs] == [r["completion"] for r in recs]
    assert exs[3].line == text[: text.index('"p4')].count("\n")  # the line of the record's opening brace


def test_malformed_array_reports_line_and_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK_BYTES", 5)
    text = '[\n{"prompt": "a", "completion": "b"},\n{"prompt": "c" "completion": "d"}\n]'
    exs, s = read(text)
    assert len(exs) == 1
    (p,) = s.log.kept
    assert (p.code, p.line, p.column) == ("invalid_json", 3, 16)


def test_format_names_and_aliases() -> None:
    assert normalise_format(None) is None and normalise_format("auto") is None
    assert normalise_format("brightrun") is None  # document or JSONL: detected from the file
    assert (
        normalise_format("OpenAI") == "openai-chat"
        and normalise_format("prompt_completion") == "prompt-completion"
    )
