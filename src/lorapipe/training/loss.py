"""The causal-LM loss from the decoder's last hidden states, in chunks of rows, without full logits.

transformers' models compute ``logits = lm_head(hidden)`` for every position and then the
cross-entropy in fp32: rows x vocabulary x 4 bytes (151 MB for one 768-token row over SmolLM2's
49,152 tokens, 465 MB over Qwen3's 151,936), and the log-softmax and its gradient add two more copies.
Here only the positions that carry a label get logits, a chunk of rows at a time (``CHUNK_BYTES``), and
each chunk's gradient w.r.t. its hidden states, ``(softmax - one_hot) @ W``, is computed in the forward
and kept (rows x hidden), as Liger's fused linear cross-entropy does: the same FLOPs as autograd
would spend, fewer where most positions are prompt tokens without labels.

The value is transformers' ``ForCausalLMLoss``: the sum over labelled positions divided by
``num_items_in_batch`` when given, else their mean; logits in the model's dtype upcast to fp32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lorapipe.models.encoding import IGNORE_INDEX

CHUNK_BYTES = 32 * 1024**2
"""fp32 logits one chunk may hold (32 MiB: 170 rows of a 49k vocabulary, 55 of a 152k one)."""

# Model types whose causal-LM head is exactly ``lm_head(decoder(...).last_hidden_state)`` followed by
# ForCausalLMLoss (transformers 5.24): no logit scaling or soft-capping (gemma2, granite, cohere are
# left to their own forward). The MoE ones add a router loss only when output_router_logits is set.
PLAIN_HEADS = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "qwen3_next", "phi3", "gemma", "smollm3", "olmo2"}
)


def chunk_rows(vocab: int) -> int:
    return max(1, CHUNK_BYTES // (4 * vocab))


def supports_chunked_loss(model: Any) -> bool:
    """Whether ``model`` (a PeftModel or a transformers causal LM) has a head :func:`causal_lm_loss`
    computes exactly."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    return (
        config is not None
        and getattr(config, "model_type", None) in PLAIN_HEADS
        and not getattr(config, "output_router_logits", False)
        and isinstance(head, torch.nn.Linear)
        and head.bias is None
        and hasattr(base, "get_decoder")
    )


def causal_lm_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
    """The loss ``model(**inputs).loss`` would be (with ``num_items_in_batch`` passed through), from the
    decoder's hidden states and the output head in chunks. ``model`` passes :func:`supports_chunked_loss`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    features = {k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}
    hidden = base.get_decoder()(**features, use_cache=False).last_hidden_state
    targets = inputs.get("shift_labels")
    if targets is None:
        targets = F.pad(inputs["labels"], (0, 1), value=IGNORE_INDEX)[..., 1:]
    targets = targets.reshape(-1).to(hidden.device)
    rows = (targets != IGNORE_INDEX).nonzero().squeeze(1)
    divisor = (
        torch.as_tensor(num_items_in_batch, dtype=torch.float32, device=hidden.device)
        if num_items_in_batch is not None
        else rows.numel()  # a mean over the labelled positions (0/0 = nan with none, as cross_entropy)
    )
    selected = hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)
    total = _LinearCrossEntropy.apply(selected, head.weight, targets.index_select(0, rows))
    return total / divisor


class _LinearCrossEntropy(torch.autograd.Function):
    """Sum of ``cross_entropy((hidden @ weight.T).float(), targets)``, chunk by chunk of rows."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        need_hidden, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need_weight else None
        step = chunk_rows(weight.shape[0])
        for start in range(0, hidden.shape[0], step):
            h, t = hidden[start : start + step], targets[start : start + step]
            logits = F.linear(h, weight).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t.unsqueeze(1)).squeeze(1)).sum()
            if not (need_hidden or need_weight):
                continue
            # d(sum of losses)/d(logits) = softmax - one_hot, computed in place over the logits
            grad = logits.sub_(lse.unsqueeze(1)).exp_()
            grad[torch.arange(t.numel(), device=t.device), t] -= 1.0
            grad = grad.to(hidden.dtype)
            if grad_hidden is not None:
                grad_hidden[start : start + step] = grad @ weight
            if grad_weight is not None:
                grad_weight += (grad.t() @ h).float()
        # Intermediates, not inputs: kept on ctx (no double backward through this loss).
        ctx.grads, ctx.weight_dtype = (grad_hidden, grad_weight), weight.dtype
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        grad_hidden, grad_weight = ctx.grads
        ctx.grads = (None, None)
        return (
            grad_hidden * grad_total.to(grad_hidden.dtype) if grad_hidden is not None else None,
            (grad_weight * grad_total).to(ctx.weight_dtype) if grad_weight is not None else None,
            None,
        )
