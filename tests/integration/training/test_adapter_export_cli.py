"""``lorapipe adapters export`` on the tiny model: the CLI runs the engine's ``export-merged`` as a child
process and the merged model's logits equal base + adapter's; a QLoRA run is merged into the unquantised
base; a bad dtype fails with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorapipe.cli.adapters import app
from lorapipe.settings import Settings, get_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
TINY = "lorapipe/tiny-qwen3"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A finished QLoRA run's folder of the tiny model: an adapter whose B matrices are not zero (so a
    merge that dropped them would show), its tokenizer, and a manifest naming the base by public id."""
    from peft import LoraConfig, get_peft_model

    from lorapipe.models.sources import load_model, load_tokenizer

    monkeypatch.setenv("LORAPIPE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    settings = Settings(data_dir=tmp_path / "data")
    model = load_model(TINY, settings, dtype="float32")
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False
    )
    out = tmp_path / "run"
    get_peft_model(model, lora).save_pretrained(str(out))
    load_tokenizer(TINY, settings).save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_config.json").write_text(json.dumps(config | {"base_model_name_or_path": TINY}))
    manifest = {"base_model": TINY, "job_id": "ftjob-test", "config": {"method": "qlora"}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_export_writes_a_merged_model_whose_logits_equal_base_plus_adapter(
    run_dir: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from lorapipe.models.sources import load_model

    result = CliRunner().invoke(
        app, ["export", str(run_dir), "--to", str(tmp_path / "merged"), "--dtype", "float32"]
    )
    assert result.exit_code == 0, result.output
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert all(p.dtype == torch.float32 for p in merged.parameters())  # not 4-bit, though the run was QLoRA
    assert json.loads((tmp_path / "merged" / "lorapipe_merged.json").read_text())["base_model"] == TINY
    base = load_model(TINY, Settings(data_dir=tmp_path / "data"), dtype="float32")
    ids = torch.tensor([[1, 5, 9, 200, 300, 2]])
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, run_dir).eval()(input_ids=ids).logits
        assert not torch.allclose(plain, adapted, atol=1e-4)  # the adapter changes the output
        assert torch.allclose(merged(input_ids=ids).logits, adapted, atol=1e-4)


def test_a_bad_dtype_fails_naming_the_field(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(run_dir), "--to", str(tmp_path / "m"), "--dtype", "int4"])
    assert result.exit_code == 1
    assert "dtype='int4'" in result.output and "float32" in result.output
    assert not (tmp_path / "m" / "config.json").exists()
