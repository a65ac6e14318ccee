"""The vLLM chat path's request logic over a fake engine that follows vLLM's documented ``LLMEngine``
contract (``add_request`` with token ids, a LoRA request and sampling settings; ``step`` returning each
running request's cumulative text; stop strings cut and reported as ``stop``; ``max_tokens`` as
``length``; ``abort_request``), with the tiny model's real tokenizer and chat template. The real engine
runs in tests/gpu/test_vllm_chat_gpu.py where a GPU machine with vLLM is lent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lorapipe.contract.inference import CANCELLED, CONTEXT_LENGTH
from lorapipe.inference.decode import Params, Stopped
from lorapipe.inference.vllm_engine import Progress, VllmChat
from lorapipe.models.sources import load_tokenizer
from lorapipe.settings import Settings

BASE = "lorapipe/tiny-qwen3"
ASK = [{"role": "user", "content": "Say something."}]


@dataclass
class _Running:
    prompt: list[int]
    sampling: dict[str, Any]
    lora: tuple[str, int, str] | None
    words: list[str]
    emitted: int = 0


@dataclass
class FakeVllm:
    """One word per step and request; the reply names the LoRA it ran with."""

    base: Path
    max_loras: int
    max_lora_rank: int
    max_model_len: int = 256
    running: dict[str, _Running] = field(default_factory=dict)
    submitted: list[tuple[str, list[int], dict[str, Any], tuple[str, int, str] | None]] = field(
        default_factory=list
    )
    aborted: list[str] = field(default_factory=list)

    def submit(
        self, request_id: str, prompt: list[int], sampling: dict[str, Any], lora: tuple[str, int, str] | None
    ) -> None:
        self.submitted.append((request_id, prompt, sampling, lora))
        voice = lora[0] if lora else "base"
        words = f"{voice} says héllo, then END and more words after it".split(" ")
        self.running[request_id] = _Running(prompt, sampling, lora, words)

    def step(self) -> list[Progress]:
        out = []
        for rid, run in list(self.running.items()):
            run.emitted += 1
            text = " ".join(run.words[: run.emitted])
            finished, reason = False, None
            for stop in run.sampling["stop"]:
                if stop in text:  # vLLM cuts the stop string and what follows it
                    text, finished, reason = text[: text.index(stop)], True, "stop"
            if not finished and run.emitted >= min(len(run.words), run.sampling["max_tokens"]):
                finished, reason = True, "length" if run.emitted >= run.sampling["max_tokens"] else "stop"
            out.append(Progress(rid, text, run.emitted, finished, reason))
            if finished:
                del self.running[rid]
        return out

    def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        self.running.pop(request_id, None)


@pytest.fixture
def chat(model_settings: Settings) -> tuple[VllmChat, list[FakeVllm]]:
    engines: list[FakeVllm] = []

    def open_engine(base: Path, max_loras: int, rank: int) -> FakeVllm:
        engines.append(FakeVllm(base, max_loras, rank))
        return engines[-1]

    tokenizer = load_tokenizer(BASE, model_settings)
    chat = VllmChat(
        resolve=lambda ref: Path("/models") / ref,  # what resolve_model gives: the base's folder
        load_tokenizer=lambda ref: tokenizer,
        adapter_tokenizer=lambda path: tokenizer,
        max_adapters=2,
        max_lora_rank=16,
        open_engine=open_engine,
    )
    return chat, engines


def _params(**change: Any) -> Params:
    return Params(
        **{"max_tokens": 50, "temperature": 0.0, "top_p": 1.0, "stop": (), "seed": 7, "time_limit_s": 60.0}
        | change
    )


def _ask(
    chat: VllmChat, rid: str, adapter: dict[str, str] | None = None, **params: Any
) -> tuple[Any, list[str]]:
    pieces: list[str] = []
    request = {"id": rid, "base": BASE, "adapter": adapter, "messages": ASK}
    done = chat.answer(request, _params(**params), pieces.append, lambda: False)
    return done, pieces


def test_a_reply_streams_whole_with_usage_and_the_prompt_as_token_ids(
    chat: tuple[VllmChat, list[FakeVllm]], model_settings: Settings
) -> None:
    talk, engines = chat
    done, pieces = _ask(talk, "r1")
    assert "".join(pieces) == "base says héllo, then END and more words after it"
    assert done.finish_reason == "stop" and done.completion_tokens == 10
    (engine,) = engines
    assert (engine.base, engine.max_loras, engine.max_lora_rank) == (
        Path("/models") / BASE,
        2,
        16,
    )
    rid, prompt, sampling, lora = engine.submitted[0]
    tokenizer = load_tokenizer(BASE, model_settings)
    rendered = tokenizer.apply_chat_template(ASK, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert prompt == list(rendered["input_ids"]) and done.prompt_tokens == len(prompt)
    assert (rid, lora) == ("r1", None)
    assert sampling == {"max_tokens": 50, "temperature": 0.0, "top_p": 1.0, "stop": [], "seed": 7}


def test_a_stop_string_is_never_sent_even_in_part(chat: tuple[VllmChat, list[FakeVllm]]) -> None:
    done, pieces = _ask(chat[0], "r1", stop=(" END and",))  # " END" alone may begin it: held back
    assert "".join(pieces) == "base says héllo, then"
    assert all("END" not in p and not p.endswith(" EN") for p in pieces)
    assert done.finish_reason == "stop"


def test_max_tokens_ends_with_length(chat: tuple[VllmChat, list[FakeVllm]]) -> None:
    done, pieces = _ask(chat[0], "r1", max_tokens=3)
    assert "".join(pieces) == "base says héllo," and done.finish_reason == "length"


def test_each_adapter_is_one_lora_request_with_a_stable_id(chat: tuple[VllmChat, list[FakeVllm]]) -> None:
    talk, engines = chat
    first = {"key": "ft:a", "path": "/adapters/a"}
    _, pieces = _ask(talk, "r1", first)
    assert "".join(pieces).startswith("ft:a says")
    _ask(talk, "r2", {"key": "ft:b", "path": "/adapters/b"})
    _ask(talk, "r3", first)
    assert [s[3] for s in engines[0].submitted] == [
        ("ft:a", 1, "/adapters/a"),
        ("ft:b", 2, "/adapters/b"),
        ("ft:a", 1, "/adapters/a"),
    ]
    assert len(engines) == 1  # adapters ride on the resident base


def test_another_base_replaces_the_engine(chat: tuple[VllmChat, list[FakeVllm]]) -> None:
    talk, engines = chat
    _ask(talk, "r1", {"key": "ft:a", "path": "/adapters/a"})
    talk.answer(
        {"id": "r2", "base": "lorapipe/tiny-qwen3-realvocab", "adapter": None, "messages": ASK},
        _params(),
        lambda _: None,
        lambda: False,
    )
    assert len(engines) == 2 and talk.base_ref == "lorapipe/tiny-qwen3-realvocab" and talk.lora_ids == {}


def test_a_cancelled_request_is_aborted_in_the_engine(chat: tuple[VllmChat, list[FakeVllm]]) -> None:
    talk, engines = chat
    pieces: list[str] = []
    request = {"id": "r1", "base": BASE, "adapter": None, "messages": ASK}
    with pytest.raises(Stopped) as stopped:
        talk.answer(request, _params(), pieces.append, lambda: len(pieces) >= 2)
    assert stopped.value.code == CANCELLED
    assert engines[0].aborted == ["r1"] and engines[0].running == {}


def test_a_prompt_over_the_context_is_refused_before_the_engine_sees_it(
    chat: tuple[VllmChat, list[FakeVllm]],
) -> None:
    talk, engines = chat
    with pytest.raises(Stopped) as stopped:
        _ask(talk, "r1", max_tokens=250)
    assert stopped.value.code == CONTEXT_LENGTH and stopped.value.param == "messages"
    assert "256-token context" in stopped.value.message and engines[0].submitted == []
