"""The inference worker child process through its web-side client, on the tiny Qwen3 model and real
PEFT adapters: adapters hot-swapped through an LRU of one, seeded sampling, stop strings, cancellation,
the context window, the time limit, and a worker that died."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from lorapipe.services.chat_worker import ContextLengthError, InferenceWorker
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

TINY = "lorapipe/tiny-qwen3"
ASK = [{"role": "user", "content": "What is 2 plus 3?"}]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("chat-worker"), chat_max_adapters=1, chat_max_tokens=32768
    )


@pytest.fixture(scope="module")
def adapters(settings: Settings) -> dict[str, str]:
    """Two real adapters whose B matrices are random (PEFT's init_lora_weights=False), so each
    changes the model's replies; saved with their tokenizer, as the engine saves them."""
    from peft import LoraConfig, get_peft_model

    from lorapipe.models.sources import load_model, load_tokenizer

    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        import torch

        torch.manual_seed(seed)
        model = get_peft_model(
            load_model(TINY, settings, dtype="float32"),
            LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=64, init_lora_weights=False),
        )
        folder = settings.data_dir / "adapters" / name
        model.save_pretrained(folder)
        load_tokenizer(TINY, settings).save_pretrained(folder)
        out[name] = str(folder)
    return out


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[InferenceWorker]:
    w = InferenceWorker(settings)
    yield w
    w.stop()


def request(**fields: Any) -> dict[str, Any]:
    return {
        "base": TINY,
        "adapter": None,
        "messages": ASK,
        "max_tokens": 16,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": [],
        "seed": 7,
        "time_limit_s": 120.0,
    } | fields


def reply(
    worker: InferenceWorker, adapter: dict[str, str] | None = None, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """The whole reply text and the ``done`` event."""
    text, done = "", {}
    with worker.turn:
        for event in worker.run(request(adapter=adapter, **fields)):
            if event["type"] == "delta":
                text += event["text"]
            else:
                done = event
    return text, done


def test_adapters_swap_through_an_lru_of_one(worker: InferenceWorker, adapters: dict[str, str]) -> None:
    a, b = {"key": "a", "path": adapters["a"]}, {"key": "b", "path": adapters["b"]}
    first_a, first_b, base = reply(worker, a)[0], reply(worker, b)[0], reply(worker)[0]
    assert len({first_a, first_b, base}) == 3, (first_a, first_b, base)
    assert reply(worker, a)[0] == first_a  # reloaded after b evicted it
    assert reply(worker)[0] == base


def test_seeded_sampling_and_stop_strings(worker: InferenceWorker) -> None:
    sampled, done = reply(worker, temperature=1.0, top_p=0.9, seed=11, max_tokens=32)
    assert reply(worker, temperature=1.0, top_p=0.9, seed=11, max_tokens=32)[0] == sampled
    assert done["completion_tokens"] >= 1 and done["prompt_tokens"] > 5
    stop = next((sampled[i : i + 2] for i in range(3, len(sampled) - 1) if sampled[i : i + 2].strip()), None)
    if stop is None:
        pytest.fail(f"the sampled reply has nothing to stop on: {sampled!r}")
    cut, done = reply(worker, temperature=1.0, top_p=0.9, seed=11, max_tokens=32, stop=[stop])
    assert cut == sampled[: sampled.find(stop)] and done["finish_reason"] == "stop"


def test_a_cancelled_request_leaves_the_worker_clean(
    worker: InferenceWorker, caplog: pytest.LogCaptureFixture
) -> None:
    expected = reply(worker, max_tokens=8)[0]
    caplog.set_level(logging.INFO, logger="lorapipe.services.chat_worker")
    with worker.turn:
        events = worker.run(request(max_tokens=4000, temperature=1.0))
        assert next(events)["type"] == "delta"
        events.close()  # the client went away: the worker stops that reply
    assert "ended early: cancelled" in caplog.text
    assert reply(worker, max_tokens=8)[0] == expected


def test_the_context_window_and_the_time_limit(worker: InferenceWorker) -> None:
    with pytest.raises(ContextLengthError) as too_long:
        reply(worker, max_tokens=32_000)
    assert too_long.value.param == "messages" and too_long.value.http_status == 400
    from lorapipe.errors import JobTimeoutError

    with pytest.raises(JobTimeoutError):
        reply(worker, max_tokens=4000, temperature=1.0, time_limit_s=0.01)


def test_a_dead_worker_is_restarted(settings: Settings) -> None:
    w = InferenceWorker(settings)
    try:
        expected = reply(w, max_tokens=4)[0]
        assert w._proc is not None
        w._proc.kill()
        w._proc.wait()
        assert reply(w, max_tokens=4)[0] == expected
    finally:
        w.stop()
