"""Only assistant tokens (+ end of turn) carry labels: checked token by token on the real Qwen3
vocabulary with the Qwen3-style template, through the engine's own encoding and collation."""

from __future__ import annotations

import pytest

from lorapipe.contract.conversation import Example, Message
from lorapipe.settings import Settings
from lorapipe.training.data import PaddingCollator, encode_examples

pytestmark = pytest.mark.integration

IM_END = 151645  # Qwen3's <|im_end|>


def test_labels_cover_exactly_the_trained_reply_and_its_end_of_turn(model_settings: Settings) -> None:
    from lorapipe.models.tiny import load_real_qwen_tokenizer

    tok = load_real_qwen_tokenizer(model_settings)
    example = Example(
        id="x",
        conversation_id="c",
        messages=(
            Message("system", "Be brief."),
            Message("user", "Hi there"),
            Message("assistant", "Hello! How can I help?", trained=False),
            Message("user", "Sum 2+3, then explain."),
            Message("assistant", "2 + 3 = 5. Adding counts both groups together.", trained=True),
        ),
    )
    short = Example(
        id="y",
        conversation_id="d",
        messages=(Message("user", "Hi"), Message("assistant", "Yo", trained=True)),
    )
    encoded = encode_examples(tok, [example, short], 512, None)
    batch = PaddingCollator(pad_id=tok.pad_token_id)(encoded.features)
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()

    target = tok.encode("2 + 3 = 5. Adding counts both groups together.<|im_end|>", add_special_tokens=False)
    assert target[-1] == IM_END
    trained_positions = [i for i, label in enumerate(labels) if label != -100]
    # one contiguous run, equal to the reply's tokens + <|im_end|>, followed only by the newline
    assert trained_positions == list(range(trained_positions[0], trained_positions[0] + len(target)))
    assert [ids[i] for i in trained_positions] == target
    assert all(labels[i] == ids[i] for i in trained_positions)
    assert tok.decode(ids[trained_positions[-1] + 1 :]) == "\n"
    # nothing before it is trained: not the system, the users, the untrained reply or the empty think block
    prefix = tok.decode(ids[: trained_positions[0]])
    assert prefix.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert "Hello! How can I help?<|im_end|>" in prefix
    # the padded second row: padding is never trained
    row = batch["labels"][1].tolist()
    n = len(encoded.features[1]["input_ids"])
    assert all(x == -100 for x in row[n:]) and [t for t in row[:n] if t != -100][-1] == IM_END
