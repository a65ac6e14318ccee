"""Replies of the base model and of the adapter to a few held-out prompts (``samples.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lorapipe.contract.config import TrainingConfig
from lorapipe.contract.conversation import Example
from lorapipe.training.adapter import Hardware
from lorapipe.training.artifacts import sample_prompts


def _prompt_ids(
    tokenizer: Any, messages: list[dict[str, str]], budget: int, thinking: bool | None
) -> list[int]:
    """The prompt's ids, dropping the oldest turns after the system message until it fits ``budget``."""
    kwargs = {} if thinking is None else {"enable_thinking": thinking}
    msgs = list(messages)
    while True:
        ids = tokenizer.apply_chat_template(
            msgs, add_generation_prompt=True, tokenize=True, return_dict=True, **kwargs
        )["input_ids"]
        head = 1 if msgs and msgs[0]["role"] == "system" else 0
        if len(ids) <= budget or len(msgs) - head <= 1:
            return list(ids)[-budget:]
        msgs = msgs[:head] + msgs[head + 2 :] if len(msgs) - head > 2 else msgs[:head] + msgs[-1:]


@torch.no_grad()
def _reply(model: Any, tokenizer: Any, ids: list[int], max_new_tokens: int, synced: bool) -> str:
    device = next(model.parameters()).device
    inputs = torch.tensor([ids], device=device)
    out = model.generate(
        input_ids=inputs,
        attention_mask=torch.ones_like(inputs),
        max_new_tokens=max_new_tokens,
        do_sample=False,  # greedy: base and adapter are compared on equal terms, reproducibly
        use_cache=True,
        pad_token_id=tokenizer.pad_token_id,
        synced_gpus=synced,  # sharded weights: every rank runs each forward until all have finished
    )
    return str(tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True))


def generate_samples(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    config: TrainingConfig,
    hw: Hardware,
    *,
    synced: bool = False,
) -> list[dict[str, Any]]:
    """For each held-out prompt: ``{id, prompt, reference, base, adapter}`` (greedy replies). ``synced``:
    the model is sharded (FSDP) and every rank calls this with the same examples."""
    thinking = {"auto": None, "on": True, "off": False}[config.thinking]
    budget = max(16, config.max_length - config.sample_max_new_tokens)
    was_training = model.training
    model.eval()
    out = []
    try:
        for ex_id, prompt, reference in sample_prompts(examples, config.sample_prompts):
            ids = _prompt_ids(tokenizer, prompt, budget, thinking)
            with model.disable_adapter():
                base = _reply(model, tokenizer, ids, config.sample_max_new_tokens, synced)
            adapted = _reply(model, tokenizer, ids, config.sample_max_new_tokens, synced)
            out.append(
                {
                    "id": ex_id,
                    "prompt": prompt[-1]["content"] if prompt else "",
                    "prompt_tokens": len(ids),
                    "reference": reference,
                    "base": base,
                    "adapter": adapted,
                }
            )
    finally:
        model.train(was_training)
    return out
