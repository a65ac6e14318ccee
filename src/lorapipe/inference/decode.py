"""One chat reply, token by token: the prompt rendered with the chat template, then a plain decoding
loop over the KV cache (greedy at temperature 0, else temperature + top-p sampling from a seeded
generator) that streams text as it is produced.

A hand-written loop rather than ``generate()``: the request's time limit, its cancellation and its
stop strings are checked after every token, and text held back as a possible stop-string start is
never sent, which ``generate()``'s streamers and criteria do not give together.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lorapipe.contract.inference import CANCELLED, CONTEXT_LENGTH, TIMEOUT
from lorapipe.inference.loaded import Target
from lorapipe.models.end_tokens import end_of_turn_ids


class Stopped(Exception):
    """The request ended before its reply did (``code``: cancelled, timeout, context_length_exceeded)."""

    def __init__(self, code: str, message: str, kind: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.kind, self.param = code, message, kind, param


@dataclass(frozen=True)
class Params:
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None
    time_limit_s: float

    @classmethod
    def of(cls, request: dict[str, Any]) -> Params:
        """The sampling settings of a ``generate`` request (:mod:`lorapipe.contract.inference`)."""
        return cls(
            max_tokens=int(request["max_tokens"]),
            temperature=float(request["temperature"]),
            top_p=float(request["top_p"]),
            stop=tuple(request.get("stop") or ()),
            seed=request.get("seed"),
            time_limit_s=float(request["time_limit_s"]),
        )


@dataclass(frozen=True)
class Reply:
    finish_reason: str  # "stop" (end of turn or a stop string) or "length" (max_tokens)
    prompt_tokens: int
    completion_tokens: int


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of ``text`` could begin a stop string (not sent yet)."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                longest = max(longest, n)
                break
    return longest


def _pick(logits: torch.Tensor, params: Params, generator: torch.Generator) -> int:
    if params.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest head whose mass reaches top_p (the first token always stays).
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= params.top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def reply(
    target: Target,
    messages: list[dict[str, str]],
    params: Params,
    emit: Callable[[str], None],
    cancelled: Callable[[], bool],
) -> Reply:
    """Generate the assistant's reply to ``messages``, calling ``emit`` with each new piece of text."""
    started = time.monotonic()
    tok, model = target.tokenizer, target.model
    prompt = list(
        tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
    )
    window = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    if window and len(prompt) + params.max_tokens > window:
        raise Stopped(
            CONTEXT_LENGTH,
            f"the prompt is {len(prompt)} tokens and max_tokens {params.max_tokens}: more than the model's "
            f"{window}-token context; shorten the messages or lower max_tokens",
            "user",
            "messages",
        )
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(params.seed if params.seed is not None else random.getrandbits(63))
    end_ids = end_of_turn_ids(target.model, target.tokenizer)
    switched_off = (
        model.disable_adapter() if target.adapter is None and hasattr(model, "peft_config") else None
    )
    generated: list[int] = []
    sent, finish, stop_hit = 0, "length", False
    with switched_off or contextlib.nullcontext():
        inputs, cache = torch.tensor([prompt], device=device), None
        while len(generated) < params.max_tokens:
            out = model(input_ids=inputs, cache=cache, use_cache=True, logits_to_keep=1)
            cache = out.cache
            token = _pick(out.logits[0, -1].float(), params, generator)
            if token in end_ids:
                finish = "stop"
                break
            generated.append(token)
            text = tok.decode(generated, skip_special_tokens=True)
            hit = min((i for i in (text.find(s) for s in params.stop) if i >= 0), default=-1)
            if hit >= 0:
                if hit > sent:
                    emit(text[sent:hit])
                finish, stop_hit = "stop", True
                break
            # A trailing U+FFFD is half a multi-byte character: wait for the rest.
            ready = len(text.rstrip("\ufffd")) - held_back(text, params.stop)
            if ready > sent:
                emit(text[sent:ready])
                sent = ready
            if cancelled():
                raise Stopped(CANCELLED, "the request was cancelled", "user")
            if time.monotonic() - started > params.time_limit_s:
                raise Stopped(
                    TIMEOUT,
                    f"the reply took longer than the {params.time_limit_s:g} s a chat request may run",
                    "timeout",
                )
            inputs = torch.tensor([[token]], device=device)
    if not stop_hit:  # what was held back as a possible stop-string start is text after all
        rest = tok.decode(generated, skip_special_tokens=True)[sent:]
        if rest:
            emit(rest)
    return Reply(finish, len(prompt), len(generated))
