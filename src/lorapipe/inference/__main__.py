"""``python -m lorapipe.inference CONFIG_JSON``: the inference worker's loop (protocol in
:mod:`lorapipe.contract.inference`).

CONFIG_JSON: ``{"data_dir", "model_cache_dir", "model_dirs", "max_adapters", "device", "engine",
"max_lora_rank"}`` (engine: auto, transformers or vllm: :mod:`lorapipe.inference.vllm_engine`). A reader
thread takes requests from stdin (so a ``cancel`` reaches a reply being generated); the main thread
answers one request at a time. stdout carries only protocol lines: fd 1 is pointed at stderr so that
library prints cannot corrupt them. The worker exits when stdin closes (its parent is gone).
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lorapipe.contract.inference import CANCELLED, error_event
from lorapipe.errors import LorapipeError
from lorapipe.settings import Settings

if TYPE_CHECKING:
    from lorapipe.inference.decode import Params, Reply

Emit = Callable[[str], None]
Answer = Callable[[dict[str, Any], "Params", Emit, Callable[[], bool]], "Reply"]
"""(request, its sampling settings, emit a piece of text, is it cancelled?) -> the finished reply."""


def _protocol_stream() -> IO[str]:
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return stream


class Inbox:
    """Requests in arrival order, and the ids cancelled so far (read from stdin by a thread)."""

    def __init__(self, source: IO[str]) -> None:
        self.requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.cancelled: set[str] = set()
        threading.Thread(target=self._read, args=(source,), daemon=True).start()

    def _read(self, source: IO[str]) -> None:
        for line in source:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message.get("op") == "cancel":
                self.cancelled.add(str(message.get("id")))
            elif message.get("op") == "generate":
                self.requests.put(message)
        self.requests.put(None)


def _delta(send: Callable[[dict[str, Any]], None], rid: str, text: str) -> None:
    send({"type": "delta", "id": rid, "text": text})


def _answerer(config: dict[str, Any], settings: Settings, device: str) -> Answer:
    """The reply function of the configured engine: vLLM with multi-LoRA (``engine`` vllm, or auto
    with CUDA and vLLM installed), else the transformers decoding loop."""
    from lorapipe.inference.decode import reply
    from lorapipe.inference.loaded import LoadedModels
    from lorapipe.inference.vllm_engine import VllmChat, open_vllm, vllm_available

    engine = config.get("engine") or "auto"
    max_adapters = int(config.get("max_adapters", 4))
    if engine == "vllm" or (engine == "auto" and device == "cuda" and vllm_available()):
        from transformers import AutoTokenizer

        from lorapipe.models.sources import load_tokenizer, resolve_model

        chat = VllmChat(
            resolve=lambda ref: resolve_model(ref, settings).path,
            load_tokenizer=lambda ref: load_tokenizer(ref, settings),
            # The adapter folder carries the tokenizer and chat template it was trained with.
            adapter_tokenizer=AutoTokenizer.from_pretrained,
            max_adapters=max_adapters,
            max_lora_rank=int(config.get("max_lora_rank", 64)),
            open_engine=open_vllm,
        )
        return chat.answer
    models = LoadedModels(settings, max_adapters, device)

    def answer(request: dict[str, Any], params: Params, emit: Emit, cancelled: Callable[[], bool]) -> Reply:
        target = models.target(request["base"], request.get("adapter"))
        return reply(target, request["messages"], params, emit=emit, cancelled=cancelled)

    return answer


def serve(config: dict[str, Any], source: IO[str], sink: IO[str]) -> None:
    import torch

    from lorapipe.inference.decode import Params, Stopped

    def send(event: dict[str, Any]) -> None:
        sink.write(json.dumps(event, ensure_ascii=False) + "\n")

    settings = Settings(
        data_dir=Path(config["data_dir"]),
        model_cache_dir=Path(config["model_cache_dir"]),
        model_dirs=[Path(p) for p in config.get("model_dirs", [])],
    )
    device = config.get("device") or "auto"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    answer = _answerer(config, settings, device)
    inbox = Inbox(source)
    send({"type": "ready", "device": device})
    while (request := inbox.requests.get()) is not None:
        rid = str(request["id"])
        if rid in inbox.cancelled:
            send(error_event(rid, CANCELLED, "the request was cancelled", "user"))
            continue
        try:
            done = answer(
                request,
                Params.of(request),
                partial(_delta, send, rid),
                partial(inbox.cancelled.__contains__, rid),
            )
        except Stopped as stop:
            send(error_event(rid, stop.code, stop.message, stop.kind, stop.param))
        except LorapipeError as exc:
            send(error_event(rid, exc.code, str(exc), exc.kind, exc.param))
        except Exception as exc:  # a bug or a broken model: this request fails, the worker lives on
            print(f"inference request {rid} failed: {exc!r}", file=sys.stderr)
            send(error_event(rid, "inference_failed", f"generation failed ({type(exc).__name__})", "system"))
        else:
            send(
                {
                    "type": "done",
                    "id": rid,
                    "finish_reason": done.finish_reason,
                    "prompt_tokens": done.prompt_tokens,
                    "completion_tokens": done.completion_tokens,
                }
            )
        inbox.cancelled.discard(rid)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]), sys.stdin, _protocol_stream())
