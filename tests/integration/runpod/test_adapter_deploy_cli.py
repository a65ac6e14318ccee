"""``lorapipe adapters deploy`` against the fake RunPod REST API: the template and endpoint requests match
the pinned shapes, the template's env names the base model, the volume's HF cache and the adapter as a
LoRA module; the output names the OpenAI base URL, the model and the operator's step; an incompatible
adapter and a volume in another datacenter are refused with the reason, before anything is created."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_runpod_rest import FakeRunpodRest
from runpod_rest_shapes import body_problems
from typer.testing import CliRunner

from lorapipe.cli.adapters import app
from lorapipe.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
BASE = "Qwen/Qwen3-8B"


def write_adapter(folder: Path, *, rank: int = 8, **config: Any) -> Path:
    """A PEFT adapter folder as the engine saves it: ``adapter_config.json`` and a real safetensors file
    (zeros) holding LoRA A/B of two projections of one layer."""
    folder.mkdir(parents=True)
    fields = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "bias": "none"}
    fields |= {"target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": BASE, **config}
    (folder / "adapter_config.json").write_text(json.dumps(fields))
    table: dict[str, Any] = {}
    offset = 0
    for module in ("q_proj", "v_proj"):
        for part, shape in (("A", [rank, 16]), ("B", [16, rank])):
            size = 4 * shape[0] * shape[1]
            key = f"base_model.model.model.layers.0.self_attn.{module}.lora_{part}.weight"
            table[key] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
    header = json.dumps(table).encode()
    (folder / "adapter_model.safetensors").write_bytes(
        struct.pack("<Q", len(header)) + header + bytes(offset)
    )
    return folder


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunpodRest]:
    rest = FakeRunpodRest.start(tmp_path / "runpod")
    rest.add_volume("vol-eu", "EU-RO-1")
    for key, value in {
        "LORAPIPE_DATA_DIR": str(tmp_path / "data"),
        "LORAPIPE_RUNPOD_API_KEY": rest.api_key,
        "LORAPIPE_RUNPOD_REST_URL": rest.url,
        "LORAPIPE_RUNPOD_NETWORK_VOLUME_ID": "vol-eu",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        yield rest
    finally:
        get_settings.cache_clear()
        rest.stop()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["deploy", *args], env={"COLUMNS": "300"})
    return result.exit_code, " ".join(result.output.split())


def posts(fake: FakeRunpodRest) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["method"] == "POST"]


def test_deploy_creates_a_vllm_template_and_endpoint_and_prints_how_to_call_it(
    fake: FakeRunpodRest, tmp_path: Path
) -> None:
    folder = write_adapter(tmp_path / "support-bot", rank=32)
    code, output = run(str(folder), "--gpu", "H100-SXM")
    assert code == 0, output
    template, endpoint = (r["body"] for r in posts(fake))
    assert body_problems("TemplateCreateInput", template) == []
    assert body_problems("EndpointCreateInput", endpoint) == []
    assert template["imageName"].startswith("runpod/worker-v1-vllm:v")
    env = template["env"]
    assert env["MODEL_NAME"] == BASE and env["HF_HUB_CACHE"] == "/runpod-volume/lorapipe/models/hub"
    assert env["ENABLE_LORA"] == "true" and env["MAX_LORA_RANK"] == "32"
    assert json.loads(env["LORA_MODULES"]) == [
        {"name": "support-bot", "path": "/runpod-volume/lorapipe/adapters/support-bot"}
    ]
    assert (endpoint["networkVolumeId"], endpoint["dataCenterIds"]) == ("vol-eu", ["EU-RO-1"])
    assert endpoint["workersMin"] == 0 and endpoint["gpuTypeIds"] == ["NVIDIA H100 80GB HBM3"]
    (created,) = fake.endpoints.values()
    assert endpoint["templateId"] in fake.templates
    assert f"OpenAI base URL: https://api.runpod.ai/v2/{created['id']}/openai/v1" in output
    assert "model: support-bot" in output
    assert "/workspace/lorapipe/adapters/support-bot" in output and "vol-eu" in output


def test_an_incompatible_adapter_is_refused_with_the_checks_reason(
    fake: FakeRunpodRest, tmp_path: Path
) -> None:
    folder = write_adapter(tmp_path / "dora", use_dora=True)
    code, output = run(str(folder))
    assert code == 1
    assert "will not load in vLLM" in output and "dora: DoRA" in output
    assert posts(fake) == []


def test_a_volume_in_another_datacenter_is_refused(fake: FakeRunpodRest, tmp_path: Path) -> None:
    folder = write_adapter(tmp_path / "plain")
    code, output = run(str(folder), "--datacenter", "US-TX-3")
    assert code == 1
    assert "vol-eu is in EU-RO-1" in output and "cannot mount" in output and "--datacenter EU-RO-1" in output
    assert posts(fake) == []


def test_dry_run_prints_the_requests_and_creates_nothing(fake: FakeRunpodRest, tmp_path: Path) -> None:
    folder = write_adapter(tmp_path / "plain")
    code, output = run(str(folder), "--dry-run")
    assert code == 0, output
    assert "POST /templates" in output and '"MAX_LORA_RANK": "16"' in output
    assert posts(fake) == [] and fake.endpoints == {}
