"""Chat through vLLM with multi-LoRA on a GPU: a tiny adapter trained here is served as a LoRA request on
its base, and its greedy reply equals the transformers loop's (same prompt ids, same weights). Skipped
without CUDA or without vLLM installed (``pip install vllm`` on the GPU machine); run with
``tests/gpu/run.sh``."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lorapipe.settings import Settings

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM installed"),
]
EQ12 = Path(__file__).resolve().parents[2] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
ASK = [{"role": "user", "content": "I feel lost at work. What should I do first?"}]


def test_vllm_serves_a_trained_adapter_like_the_transformers_loop(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from lorapipe.contract.spec import TrainingJobSpec
    from lorapipe.inference.decode import Params, reply
    from lorapipe.inference.loaded import LoadedModels
    from lorapipe.inference.vllm_engine import VllmChat, open_vllm, vllm_available
    from lorapipe.models.sources import load_tokenizer, resolve_model
    from lorapipe.training.events import EventWriter
    from lorapipe.training.run import run

    assert vllm_available()
    settings = Settings(data_dir=tmp_path / "data")
    base = "smollm2-135m-instruct"
    spec = TrainingJobSpec.parse(
        {
            "job_id": "vllm-gpu",
            "model": base,
            "dataset": {"uri": str(EQ12)},
            "config": {"preset": "cpu-smoke", "precision": "bf16", "sample_prompts": 0},
        }
    )
    adapter = tmp_path / "adapter"
    run(spec, adapter, EventWriter(io.StringIO(), None), settings=settings)
    request: dict[str, Any] = {
        "id": "r1",
        "base": base,
        "adapter": {"key": "ft:gpu", "path": str(adapter)},
        "messages": ASK,
    }
    params = Params(max_tokens=24, temperature=0.0, top_p=1.0, stop=(), seed=0, time_limit_s=120)

    chat = VllmChat(
        resolve=lambda ref: resolve_model(ref, settings).path,
        load_tokenizer=lambda ref: load_tokenizer(ref, settings),
        adapter_tokenizer=AutoTokenizer.from_pretrained,
        max_adapters=2,
        max_lora_rank=16,
        open_engine=open_vllm,
    )
    pieces: list[str] = []
    served = chat.answer(request, params, pieces.append, lambda: False)
    assert served.completion_tokens > 0 and "".join(pieces).strip()
    base_pieces: list[str] = []
    chat.answer({**request, "id": "r2", "adapter": None}, params, base_pieces.append, lambda: False)

    models = LoadedModels(settings, 2, "cuda")
    local: list[str] = []
    reply(models.target(base, request["adapter"]), ASK, params, local.append, lambda: False)
    print(json.dumps({"vllm_adapter": "".join(pieces), "transformers_adapter": "".join(local)}))
    # Greedy on the same weights: the first words agree (bf16 kernels differ, so not every token).
    assert "".join(pieces).split()[:3] == "".join(local).split()[:3]
    assert "".join(pieces) != "".join(base_pieces)
