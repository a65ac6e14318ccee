"""Several GPUs and real-size throughput: FSDP on two GPUs through the engine's own launch (skipped with
fewer), the FSDP save path on one GPU under an operator's ``accelerate launch``, and the MFU of a bf16
LoRA run on the largest Qwen3 that fits (from a local folder: ``LORAPIPE_GPU_QWEN3_DIR``; hubs may be
unreachable). Skipped without CUDA; run with ``tests/gpu/run.sh``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lorapipe.contract.conversation import Example, Message
from lorapipe.contract.events import parse_event
from lorapipe.settings import Settings

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
QWEN3_DIR = os.environ.get("LORAPIPE_GPU_QWEN3_DIR")
"""A local Qwen3 checkpoint folder (config.json + safetensors) for the MFU figure."""


def _dataset(path: Path, n: int = 64, words: int = 40) -> Path:
    """``n`` chats of equal length (so tokens per step are known exactly)."""
    with path.open("w") as fh:
        for i in range(n):
            msgs = (
                Message("user", f"Repeat the number {i % 10}: " + " ".join([str(i % 10)] * words)),
                Message("assistant", " ".join([str(i % 10)] * words), trained=True),
            )
            fh.write(json.dumps(Example(id=f"e{i}", conversation_id=f"c{i}", messages=msgs).to_dict()) + "\n")
    return path


def _spec(path: Path, model: str, dataset: Path, gpus: int, **config: Any) -> Path:
    base = {"preset": "custom", "lr_scheduler": "constant", "warmup_ratio": 0.0, "learning_rate": 5e-3}
    spec = {"job_id": "gpu-dist", "model": model, "dataset": {"uri": str(dataset)}, "config": base | config}
    path.write_text(json.dumps(spec | {"gpus": gpus}))
    return path


def _events(stdout: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in stdout.splitlines()]
    for event in events:
        parse_event(event)
    return events


def _assert_complete_adapter(out: Path, settings: Settings) -> None:
    """The saved adapter has every LoRA weight a fresh adapter has, and it loads into the base."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from lorapipe.models.tiny import tiny_model_dir

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir("lorapipe/tiny-qwen3", settings))
    model = PeftModel.from_pretrained(base, out)
    expected = {n for n, _ in model.named_parameters() if "lora_" in n}
    saved = load_file(str(out / "adapter_model.safetensors"))
    assert len(saved) == len(expected) > 0
    assert all(t.numel() > 0 for t in saved.values())  # full tensors, not empty shards
    assert any(float(t.abs().sum()) > 0 for k, t in saved.items() if "lora_B" in k)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_fsdp_on_two_gpus_writes_a_complete_adapter(model_settings: Settings, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d.jsonl")
    spec = _spec(
        tmp_path / "s.json",
        "lorapipe/tiny-qwen3",
        data,
        2,
        max_steps=12,
        batch_size=4,
        eval_steps=6,
        save_steps=6,
    )
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(model_settings.data_dir)}
    argv = [sys.executable, "-m", "lorapipe.training", "run", str(spec), "--out", str(tmp_path / "out")]
    done = subprocess.run([*argv, "--sharding", "fsdp"], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    events = _events(done.stdout)
    plan = next(e for e in events if e["type"] == "distributed")
    assert (plan["mode"], plan["world_size"]) == ("fsdp", 2)
    assert events[-1]["status"] == "succeeded"
    assert events[-1]["metrics"]["train_loss_last"] < events[-1]["metrics"]["train_loss_first"]
    progress = json.loads((tmp_path / "out/checkpoints/checkpoint-12/lorapipe_progress.json").read_text())
    assert (progress["sharding"], progress["world_size"]) == ("fsdp", 2)
    _assert_complete_adapter(tmp_path / "out", model_settings)


def test_fsdp_save_path_on_one_gpu_under_accelerate_launch(model_settings: Settings, tmp_path: Path) -> None:
    """An operator's own ``accelerate launch --use_fsdp``: the Trainer shards, the engine gathers the
    adapter and generates its samples with every rank in step."""
    data = _dataset(tmp_path / "d.jsonl")
    spec = _spec(tmp_path / "s.json", "lorapipe/tiny-qwen3", data, 1, max_steps=8, batch_size=4, eval_steps=4)
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(model_settings.data_dir)}
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
    ]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "--use_fsdp", "--fsdp_version", "2"]
    launch += [
        "--fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP",
        "--fsdp_state_dict_type",
        "FULL_STATE_DICT",
    ]
    launch += ["-m", "lorapipe.training", "run", str(spec), "--out", str(tmp_path / "out")]
    done = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    events = _events(done.stdout)
    assert any(
        e["type"] == "warning" and e["code"] == "final_adapter_last" for e in events
    )  # the FSDP path ran
    samples = json.loads((tmp_path / "out" / "samples.json").read_text())["samples"]
    assert samples and samples[0]["adapter"] is not None
    _assert_complete_adapter(tmp_path / "out", model_settings)


def _peak_tflops(device_name: str) -> float | None:
    """Dense BF16 peak of this GPU from the estimator's catalogue (``LORAPIPE_GPU_PEAK_TFLOPS`` wins)."""
    if os.environ.get("LORAPIPE_GPU_PEAK_TFLOPS"):
        return float(os.environ["LORAPIPE_GPU_PEAK_TFLOPS"])
    from lorapipe.estimate.catalogue import load_catalogue

    found = [g for g in load_catalogue().gpus if g.id.split("-")[0] in device_name]
    pcie = [g for g in found if ("PCIE" in g.id) == ("PCIe" in device_name)]
    return (pcie or found)[0].bf16_dense_tflops if found else None


@pytest.mark.skipif(
    not QWEN3_DIR, reason="set LORAPIPE_GPU_QWEN3_DIR to a local Qwen3 folder (hubs unreachable)"
)
def test_mfu_of_bf16_lora_on_the_largest_qwen3_that_fits(model_settings: Settings, tmp_path: Path) -> None:
    from lorapipe.contract.spec import TrainingJobSpec
    from lorapipe.estimate.config import EstimateConfig
    from lorapipe.estimate.model_lookup import resolve_model_facts
    from lorapipe.estimate.throughput import flops_per_token
    from lorapipe.training.events import EventWriter
    from lorapipe.training.run import run

    assert QWEN3_DIR is not None
    model_dir = Path(QWEN3_DIR)
    batch, steps = 4, 12
    spec = TrainingJobSpec.parse(
        json.loads(
            _spec(
                tmp_path / "s.json",
                str(model_dir),
                _dataset(tmp_path / "d.jsonl", n=batch * steps + 8, words=400),
                1,
                precision="bf16",
                rank=16,
                alpha=32,
                target_modules="all-linear",
                max_steps=steps,
                batch_size=batch,
                max_length=2048,
                eval_steps=steps,
                validation_split=0.0,
                gradient_checkpointing=True,
                sample_prompts=0,
                logging_steps=1,
            ).read_text()
        )
    )
    stream = io.StringIO()
    result = run(spec, tmp_path / "out", EventWriter(stream, None), settings=model_settings)
    encoded = result.manifest["dataset"]["train"]  # what the engine itself tokenised
    tokens = encoded["tokens"] / encoded["examples_used"]  # per example; all examples are alike
    train = [json.loads(x) for x in stream.getvalue().splitlines() if '"phase":"train"' in x]
    first, last = train[1], train[-1]  # from the end of step 2: kernels compiled, allocator warm
    seconds = last["elapsed_s"] - first["elapsed_s"]
    tokens_per_s = (last["step"] - first["step"]) * batch * tokens / seconds
    facts = resolve_model_facts(model_dir.name, model_dir)
    fpt = flops_per_token(facts, EstimateConfig(gradient_checkpointing=True), mean_context=tokens / 2)
    peak = _peak_tflops(torch.cuda.get_device_name(0))
    mfu = tokens_per_s * fpt / (peak * 1e12) if peak else None
    print(
        f"MFU {model_dir.name} bf16 LoRA r16 all-linear, batch {batch} x {tokens:.0f} tokens, checkpointing: "
        f"{tokens_per_s:.0f} tokens/s, {tokens_per_s * fpt / 1e12:.1f} TFLOP/s"
        + (f" = {mfu:.1%} of {peak:.0f} TFLOP/s" if mfu else " (peak unknown: set LORAPIPE_GPU_PEAK_TFLOPS)")
        + f", peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    )
    assert tokens_per_s > 0 and (mfu is None or 0 < mfu < 1)
