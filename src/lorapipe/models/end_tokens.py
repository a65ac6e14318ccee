"""Which tokens end a model's turn: one answer for the chat server, the evaluation and the samples.

A chat model stops on any of several ids: its generation config often lists more than one (Qwen3:
``<|im_end|>`` and ``<|endoftext|>``), and the tokenizer's eos may be another. Reading only one of them
lets replies run on past their end; reading them in two places let the chat server and the evaluation's
end-of-turn check disagree about whether a reply ended.
"""

from __future__ import annotations

from typing import Any


def end_of_turn_ids(model: Any, tokenizer: Any) -> set[int]:
    """The generation config's end tokens (one id or a list) and the tokenizer's eos, integers only."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured) if isinstance(configured, list) else {configured}
    ids.add(getattr(tokenizer, "eos_token_id", None))
    return {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
