"""``lorapipe adapters check --for vllm`` on real PEFT adapters of the tiny Qwen3 model: a plain LoRA
passes and gets its ``vllm serve`` command; each planted incompatibility fails with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lorapipe.cli.main import app
from lorapipe.services.adapter_check import check_folder, read_header, safetensors_keys
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration

TINY = "lorapipe/tiny-qwen3"


@pytest.fixture(scope="module")
def make_adapter(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Save a real (untrained) PEFT adapter of the tiny model with the given LoraConfig fields,
    naming its base by public id as the engine does."""
    from peft import LoraConfig, get_peft_model

    from lorapipe.models.sources import load_model

    root = tmp_path_factory.mktemp("adapters")
    settings = Settings(data_dir=root / "data")

    def make(name: str, **lora: Any) -> Path:
        model = load_model(TINY, settings, dtype="float32")
        peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
        out = root / name
        peft_model.save_pretrained(out)
        config = json.loads((out / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = TINY
        (out / "adapter_config.json").write_text(json.dumps(config))
        return out

    return make


def _failed(report: Any) -> dict[str, str]:
    return {f.check: f.message for f in report.findings if not f.ok}


def test_a_plain_lora_passes_with_its_serve_command(make_adapter: Callable[..., Path]) -> None:
    folder = make_adapter("plain", r=8, lora_alpha=16, target_modules="all-linear")
    report = check_folder(folder, name="ft:tiny-qwen3:demo")
    assert report.compatible, _failed(report)
    assert report.rank == 8 and report.max_lora_rank == 16 and report.base_model == TINY
    assert report.command == (
        f"vllm serve {TINY} --enable-lora --max-lora-rank 16 --lora-modules ft:tiny-qwen3:demo={folder}"
    )
    keys = safetensors_keys(read_header([(folder / "adapter_model.safetensors").read_bytes()]))
    assert keys and all(".lora_A." in k or ".lora_B." in k for k in keys)


def test_a_rank_above_the_default_asks_for_the_next_allowed_limit(make_adapter: Callable[..., Path]) -> None:
    report = check_folder(make_adapter("r24", r=24, target_modules=["q_proj", "v_proj"]))
    assert report.compatible and report.max_lora_rank == 32
    assert report.command is not None and "--max-lora-rank 32" in report.command


def test_modules_to_save_fail_with_the_reason(make_adapter: Callable[..., Path]) -> None:
    report = check_folder(make_adapter("mts", r=8, target_modules=["q_proj"], modules_to_save=["lm_head"]))
    failed = _failed(report)
    assert not report.compatible and report.command is None
    assert "lm_head" in failed["modules_to_save"] and "merge" in failed["modules_to_save"]
    assert "not LoRA A/B" in failed["weights"]


def test_a_rank_above_the_server_limit_fails(make_adapter: Callable[..., Path]) -> None:
    folder = make_adapter("r32", r=32, target_modules=["q_proj"])
    failed = _failed(check_folder(folder, max_lora_rank=16))
    assert failed["rank"] == "rank 32 is above the server's --max-lora-rank 16; start it with 32"
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": 1024}))
    assert "above 512" in _failed(check_folder(folder))["rank"]


def test_an_unsupported_target_module_fails(make_adapter: Callable[..., Path]) -> None:
    report = check_folder(make_adapter("emb", r=8, target_modules=["embed_tokens", "q_proj"]))
    failed = _failed(report)
    assert "embed_tokens" in failed["embeddings"] and "no LoRA for embeddings" in failed["embeddings"]
    norms = make_adapter("norm", r=8, target_modules=["q_proj"])
    config = json.loads((norms / "adapter_config.json").read_text())
    (norms / "adapter_config.json").write_text(
        json.dumps({**config, "target_modules": ["q_proj", "qk_norm"]})
    )
    assert "vLLM has no LoRA for qk_norm" in _failed(check_folder(norms))["target_modules"]


def test_the_cli_prints_each_reason_and_exits_1(make_adapter: Callable[..., Path]) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["adapters", "check", str(make_adapter("cli-ok", r=8)), "--for", "vllm"])
    assert good.exit_code == 0, good.output
    assert "vllm serve lorapipe/tiny-qwen3 --enable-lora --max-lora-rank 16" in good.output
    bad_folder = make_adapter("cli-bad", r=8, target_modules=["q_proj"], modules_to_save=["lm_head"])
    bad = runner.invoke(app, ["adapters", "check", str(bad_folder), "--for", "vllm", "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["compatible"] is False and report["command"] is None
    assert any(f["check"] == "modules_to_save" and not f["ok"] for f in report["findings"])
