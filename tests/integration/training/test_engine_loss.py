"""The engine's chunked causal-LM loss (lorapipe.training.loss) against the model's own, on the tiny
Qwen3: the same value and the same LoRA gradients, and memory bounded below the full logits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import torch

from lorapipe.models.sources import load_model
from lorapipe.settings import Settings
from lorapipe.training import loss as chunked
from lorapipe.training.loss import causal_lm_loss, supports_chunked_loss

pytestmark = pytest.mark.integration


def _lora_model(settings: Settings, model_id: str = "lorapipe/tiny-qwen3") -> Any:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = load_model(model_id, settings, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    for name, p in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; nonzero B makes every LoRA gradient nonzero
            torch.nn.init.normal_(p, std=0.05)
    return model


def _batch(vocab: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (3, 40), generator=g)
    labels = ids.clone()
    labels[:, :15] = -100  # prompt tokens
    mask = torch.ones_like(ids)
    mask[2, 30:], labels[2, 30:] = 0, -100  # a padded row
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _loss_and_grads(model: Any, compute: Any) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = compute()
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("num_items", [None, 57])
def test_chunked_loss_and_gradients_equal_the_models_own(
    model_settings: Settings, monkeypatch: pytest.MonkeyPatch, num_items: int | None
) -> None:
    model = _lora_model(model_settings)
    assert supports_chunked_loss(model)
    batch = _batch(model.config.vocab_size)
    kwargs = {} if num_items is None else {"num_items_in_batch": torch.tensor(num_items)}
    # several chunks: 7 rows of logits at a time
    monkeypatch.setattr(chunked, "CHUNK_BYTES", 7 * 4 * model.config.vocab_size)
    assert chunked.chunk_rows(model.config.vocab_size) == 7

    plain, plain_grads = _loss_and_grads(model, lambda: model(**batch, **kwargs).loss)
    ours, our_grads = _loss_and_grads(
        model, lambda: causal_lm_loss(model, batch, kwargs.get("num_items_in_batch"))
    )

    assert ours == pytest.approx(plain, rel=1e-5)
    assert our_grads.keys() == plain_grads.keys() and len(our_grads) > 4
    for name, grad in plain_grads.items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(our_grads[name], grad, rtol=1e-4, atol=1e-6 * float(grad.abs().max()))
    with torch.no_grad():  # evaluation: the same value without any gradient work
        assert causal_lm_loss(model, batch, kwargs.get("num_items_in_batch")).item() == pytest.approx(
            model(**batch, **kwargs).loss.item(), rel=1e-5
        )


def test_chunked_loss_on_packed_rows_equals_the_models_own(model_settings: Settings) -> None:
    """Packed batches (one row, sequence boundaries in position_ids, as the packing collator makes)."""
    from transformers import DataCollatorWithFlattening

    model = _lora_model(model_settings)
    rows = [
        {"input_ids": list(range(5, 25)), "labels": [-100] * 10 + list(range(15, 25))},
        {"input_ids": list(range(30, 42)), "labels": [-100] * 4 + list(range(34, 42))},
    ]
    batch = DataCollatorWithFlattening(return_position_ids=True)(rows)
    plain, plain_grads = _loss_and_grads(model, lambda: model(**batch).loss)
    ours, our_grads = _loss_and_grads(model, lambda: causal_lm_loss(model, batch))
    assert ours == pytest.approx(plain, rel=1e-5)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(our_grads[name], grad, rtol=1e-4, atol=1e-6 * float(grad.abs().max()))


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    import torch
    from peft import LoraConfig, get_peft_model
    from lorapipe.models.sources import load_model
    from lorapipe.settings import Settings
    from lorapipe.training.loss import causal_lm_loss

    rows, seq = int(sys.argv[2]), int(sys.argv[3])
    model = load_model("lorapipe/tiny-qwen3-realvocab", Settings(data_dir=Path(sys.argv[1])),
                       dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    ids = torch.randint(0, model.config.vocab_size, (rows, seq))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    small = {k: v[:1, :64] for k, v in batch.items()}
    causal_lm_loss(model, small).backward()  # warm: allocator, kernels, the weights' pages
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    causal_lm_loss(model, batch).backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": peak, "vocab": model.config.vocab_size}))
    """
)


def test_a_training_step_over_a_large_vocabulary_never_holds_the_full_logits(
    model_settings: Settings,
) -> None:
    """Qwen3's 152k vocabulary, 2 x 1024 labelled tokens: the fp32 logits alone would be 1.2 GB (and
    cross-entropy's log-softmax and gradient as much again each). The whole step, in a fresh process,
    must grow the peak resident set by less than one copy of them."""
    load_model("lorapipe/tiny-qwen3-realvocab", model_settings)  # built once per session, out of the timing
    rows, seq = 2, 1024
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(model_settings.data_dir), str(rows), str(seq)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    full_logits = rows * seq * measured["vocab"] * 4
    grown = measured["peak"] - measured["before"]
    assert grown < full_logits / 2, (grown, full_logits)
