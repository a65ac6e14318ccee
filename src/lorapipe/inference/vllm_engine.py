"""Chat replies from vLLM with multi-LoRA, on a GPU machine where vLLM is installed (``chat_engine``
``vllm``, or ``auto`` with CUDA and vLLM present): the same worker protocol as the transformers loop.

One base model is resident in a vLLM engine with LoRA enabled (``max_loras`` = ``chat_max_adapters``,
``max_lora_rank`` = ``chat_max_lora_rank``); each request names its adapter as a LoRA request (a stable
integer id per adapter key) and vLLM loads, batches and evicts adapters itself. The prompt is rendered
with the adapter's own tokenizer and chat template, as in training, and sent as token ids.

:class:`VllmChat` holds the request logic (streaming, stop strings, cancel, time limit, context
length) over :class:`VllmEngine`, a small surface over vLLM's documented ``LLMEngine`` (``add_request``,
``step``, ``abort_request``); :func:`open_vllm` is the only code that touches vLLM itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lorapipe.contract.inference import CANCELLED, CONTEXT_LENGTH, TIMEOUT
from lorapipe.inference.decode import Params, Reply, Stopped, held_back


@dataclass(frozen=True)
class Progress:
    """Where one request stands after an engine step: the reply so far (cumulative text)."""

    request_id: str
    text: str
    completion_tokens: int
    finished: bool
    finish_reason: str | None


class VllmEngine(Protocol):
    """What :class:`VllmChat` needs of a vLLM engine."""

    max_model_len: int

    def submit(
        self, request_id: str, prompt: list[int], sampling: dict[str, Any], lora: tuple[str, int, str] | None
    ) -> None: ...

    def step(self) -> list[Progress]: ...

    def abort(self, request_id: str) -> None: ...


EngineFactory = Callable[[Path, int, int], VllmEngine]
"""(base model folder, max LoRAs, max LoRA rank) -> an engine on that base."""


class VllmChat:
    """The resident base's engine and the adapters' LoRA ids and tokenizers."""

    def __init__(
        self,
        resolve: Callable[[str], Path],
        load_tokenizer: Callable[[str], Any],
        adapter_tokenizer: Callable[[str], Any],
        max_adapters: int,
        max_lora_rank: int,
        open_engine: EngineFactory,
    ) -> None:
        self.resolve, self.load_tokenizer, self.adapter_tokenizer = resolve, load_tokenizer, adapter_tokenizer
        self.max_adapters, self.max_lora_rank = max_adapters, max_lora_rank
        self.open_engine = open_engine
        self.base_ref: str | None = None
        self.engine: VllmEngine | None = None
        self.tokenizer: Any = None
        self.lora_ids: dict[str, int] = {}
        self.adapter_tokenizers: dict[str, Any] = {}

    def _on_base(self, ref: str) -> VllmEngine:
        if self.engine is None or ref != self.base_ref:
            self.engine = None  # one base at a time: the old engine's memory goes first
            self.lora_ids.clear()
            self.adapter_tokenizers.clear()
            path = self.resolve(ref)
            self.engine = self.open_engine(path, self.max_adapters, self.max_lora_rank)
            self.tokenizer, self.base_ref = self.load_tokenizer(ref), ref
        return self.engine

    def _lora(self, adapter: dict[str, str]) -> tuple[Any, tuple[str, int, str]]:
        key = adapter["key"]
        if key not in self.lora_ids:  # vLLM keys its LoRA cache by this id: one per adapter, never reused
            self.lora_ids[key] = len(self.lora_ids) + 1
            self.adapter_tokenizers[key] = self.adapter_tokenizer(adapter["path"])
        return self.adapter_tokenizers[key], (key, self.lora_ids[key], adapter["path"])

    def answer(
        self,
        request: dict[str, Any],
        params: Params,
        emit: Callable[[str], None],
        cancelled: Callable[[], bool],
    ) -> Reply:
        started = time.monotonic()
        engine = self._on_base(str(request["base"]))
        tokenizer, lora = self.tokenizer, None
        if request.get("adapter"):
            tokenizer, lora = self._lora(request["adapter"])
        prompt = list(
            tokenizer.apply_chat_template(
                request["messages"], add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
        if len(prompt) + params.max_tokens > engine.max_model_len:
            raise Stopped(
                CONTEXT_LENGTH,
                f"the prompt is {len(prompt)} tokens and max_tokens {params.max_tokens}: more than the "
                f"server's {engine.max_model_len}-token context; shorten the messages or lower max_tokens",
                "user",
                "messages",
            )
        sampling = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop),
            "seed": params.seed,
        }
        rid = str(request["id"])
        engine.submit(rid, prompt, sampling, lora)
        sent = 0
        try:
            while True:
                for progress in engine.step():
                    if progress.request_id != rid:
                        continue
                    text = progress.text
                    ready = len(text) if progress.finished else len(text.rstrip("\ufffd"))
                    if not progress.finished:
                        ready -= held_back(text, params.stop)
                    if ready > sent:
                        emit(text[sent:ready])
                        sent = ready
                    if progress.finished:
                        finish = "length" if progress.finish_reason == "length" else "stop"
                        return Reply(finish, len(prompt), progress.completion_tokens)
                if cancelled():
                    raise Stopped(CANCELLED, "the request was cancelled", "user")
                if time.monotonic() - started > params.time_limit_s:
                    raise Stopped(
                        TIMEOUT,
                        f"the reply took longer than the {params.time_limit_s:g} s a chat request may run",
                        "timeout",
                    )
        except BaseException:
            engine.abort(rid)
            raise


def vllm_available() -> bool:
    """vLLM is installed and a CUDA device is present (what ``chat_engine=auto`` checks)."""
    import importlib.util

    import torch

    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


class _OpenedVllm:
    """:class:`VllmEngine` over vLLM's ``LLMEngine``."""

    def __init__(self, base: Path, max_loras: int, max_lora_rank: int) -> None:
        from vllm import EngineArgs, LLMEngine

        self._engine = LLMEngine.from_engine_args(
            EngineArgs(
                model=str(base),
                enable_lora=True,
                max_loras=max_loras,
                max_lora_rank=max_lora_rank,
                max_cpu_loras=max(max_loras, 2 * max_loras),
            )
        )
        self.max_model_len = int(self._engine.model_config.max_model_len)

    def submit(
        self, request_id: str, prompt: list[int], sampling: dict[str, Any], lora: tuple[str, int, str] | None
    ) -> None:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        self._engine.add_request(
            request_id,
            {"prompt_token_ids": prompt},
            SamplingParams(**{k: v for k, v in sampling.items() if v is not None and v != []}),
            lora_request=LoRARequest(*lora) if lora else None,
        )

    def step(self) -> list[Progress]:
        return [
            Progress(
                request_id=out.request_id,
                text=out.outputs[0].text,
                completion_tokens=len(out.outputs[0].token_ids),
                finished=bool(out.finished),
                finish_reason=out.outputs[0].finish_reason,
            )
            for out in self._engine.step()
        ]

    def abort(self, request_id: str) -> None:
        self._engine.abort_request([request_id])


def open_vllm(base: Path, max_loras: int, max_lora_rank: int) -> VllmEngine:
    """A vLLM engine with LoRA on the base model in ``base`` (GPU memory is taken here)."""
    return _OpenedVllm(base, max_loras, max_lora_rank)
