"""The end-of-turn check of an evaluation: base and adapter answer held-out prompts greedily; a reply
passes when it emits an end-of-turn token within the limit (a model that never stops fails it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from lorapipe.contract.conversation import Example
from lorapipe.contract.spec import EvaluationRef
from lorapipe.models.end_tokens import end_of_turn_ids
from lorapipe.training import artifacts
from lorapipe.training.failures import CancelFlag, Cancelled


def share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else None


@torch.no_grad()
def end_of_turn(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    ref: EvaluationRef,
    thinking: bool | None,
    cancel: CancelFlag,
) -> list[dict[str, Any]]:
    """Base and adapter answer up to ``ref.generate`` held-out prompts greedily; a reply passes when it
    emits an end-of-turn token within ``ref.max_new_tokens``."""
    stops = sorted(end_of_turn_ids(model, tokenizer))
    device = next(model.parameters()).device
    kwargs = {} if thinking is None else {"enable_thinking": thinking}
    out: list[dict[str, Any]] = []
    for example_id, prompt, reference in artifacts.sample_prompts(examples, ref.generate):
        if cancel.requested:
            raise Cancelled(checkpoint=None)
        ids = tokenizer.apply_chat_template(
            prompt, add_generation_prompt=True, tokenize=True, return_dict=True, **kwargs
        )["input_ids"]
        inputs = torch.tensor([list(ids)], device=device)
        row: dict[str, Any] = {"id": example_id, "reference": reference}
        for who in ("base", "adapter"):
            if who == "base":
                with model.disable_adapter():
                    new = _greedy(model, inputs, ref.max_new_tokens, stops, tokenizer.pad_token_id)
            else:
                new = _greedy(model, inputs, ref.max_new_tokens, stops, tokenizer.pad_token_id)
            cut = next((n for n, t in enumerate(new) if t in stops), len(new))
            row[who] = {
                "ended": cut < len(new),
                "tokens": cut,
                "reply": tokenizer.decode(new[:cut], skip_special_tokens=True),
            }
        out.append(row)
    return out


def _greedy(
    model: Any, inputs: torch.Tensor, max_new_tokens: int, stops: list[int], pad_id: int
) -> list[int]:
    """The new token ids of a greedy reply (deterministic: base and adapter compared on equal terms)."""
    out = model.generate(
        input_ids=inputs,
        attention_mask=torch.ones_like(inputs),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stops or None,
        pad_token_id=pad_id,
    )
    return [int(t) for t in out[0, inputs.shape[1] :].tolist()]
