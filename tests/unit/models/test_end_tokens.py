"""The ids that end a turn: the generation config's (one or a list) and the tokenizer's eos."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lorapipe.models.end_tokens import end_of_turn_ids

pytestmark = pytest.mark.unit


def _model(eos: object) -> SimpleNamespace:
    return SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=eos))


def test_every_configured_end_token_and_the_tokenizers_eos() -> None:
    # Qwen3 lists <|im_end|> and <|endoftext|>; the tokenizer's eos is a third here
    assert end_of_turn_ids(_model([151645, 151643]), SimpleNamespace(eos_token_id=7)) == {151645, 151643, 7}
    assert end_of_turn_ids(_model(2), SimpleNamespace(eos_token_id=2)) == {2}


def test_missing_or_non_integer_ids_are_ignored() -> None:
    assert end_of_turn_ids(_model(None), SimpleNamespace(eos_token_id=None)) == set()
    assert end_of_turn_ids(SimpleNamespace(), SimpleNamespace(eos_token_id=True)) == set()
    assert end_of_turn_ids(_model([None, 5]), SimpleNamespace()) == {5}
