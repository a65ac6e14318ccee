"""Packing on the tiny model: examples flattened into one row (transformers'
``DataCollatorWithFlattening``, the engine's training collator) must not see each other, and the
padding efficiency the engine reports is measured from what its collator emits."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_fixtures import tiny_spec

from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.settings import Settings
from lorapipe.training.data import PaddingCollator, collated_efficiency, make_collator, padding_efficiency

pytestmark = pytest.mark.integration


def test_packed_examples_do_not_attend_to_each_other(
    arithmetic_dataset: Path, model_settings: Settings
) -> None:
    """The second example's logits are the same packed behind the first as alone: no token of it
    attends to the first (it would, with one causal mask over the whole packed row)."""
    import torch

    from lorapipe.models.sources import load_tokenizer
    from lorapipe.training.adapter import load_base_model, pick_hardware
    from lorapipe.training.data import encode_examples, load_examples

    spec = TrainingJobSpec.parse(tiny_spec(arithmetic_dataset, packing=True))
    hw = pick_hardware(spec.config)
    tok = load_tokenizer(spec.model, model_settings)
    model = load_base_model(spec.model, model_settings, spec.config, hw).eval()
    first, second = encode_examples(tok, load_examples(arithmetic_dataset)[:2], 256, None).features
    assert first["input_ids"] != second["input_ids"]
    collate = make_collator(True, tok.pad_token_id, flash_attention=hw.attention.startswith("flash"))
    packed = collate([first, second])
    n1, n2 = len(first["input_ids"]), len(second["input_ids"])
    assert packed["input_ids"].shape == (1, n1 + n2)  # one row, no padding
    with torch.no_grad():
        together = model(**packed).logits[0]
        alone = [model(input_ids=torch.tensor([row["input_ids"]])).logits[0] for row in (first, second)]
    torch.testing.assert_close(together[:n1], alone[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(together[n1:], alone[1], rtol=1e-4, atol=1e-4)


def test_padding_efficiency_is_measured_from_the_collated_batches() -> None:
    rows = [{"input_ids": [5] * n, "labels": [5] * n} for n in (3, 5, 4, 4)]
    lengths = [3, 5, 4, 4]
    batches = [[0, 1], [2, 3]]
    padded = collated_efficiency(PaddingCollator(pad_id=0), rows, batches)
    assert padded == pytest.approx(16 / 18) and padded == pytest.approx(padding_efficiency(lengths, batches))
    assert collated_efficiency(PaddingCollator(pad_id=0, pad_to_multiple_of=8), rows, batches) == 16 / 32
    # Flattening computes every token once, nothing else.
    assert collated_efficiency(make_collator(True, 0, flash_attention=False), rows, batches) == 1.0
