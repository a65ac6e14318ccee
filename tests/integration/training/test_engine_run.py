"""One whole engine run on the tiny Qwen3 (in-process): training happened, only the adapter moved,
the adapter reloads and generates, and the output folder describes itself."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from training_fixtures import tiny_spec

from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import IntegrityError
from lorapipe.settings import Settings
from lorapipe.training.events import EventWriter
from lorapipe.training.run import RunResult, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunResult, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("run")
    spec = TrainingJobSpec.parse(tiny_spec(arithmetic_dataset, dropout=0.05))
    stream = io.StringIO()
    result = run(spec, out, EventWriter(stream, out / "metrics.jsonl"), settings=model_settings)
    return result, [json.loads(x) for x in stream.getvalue().splitlines()]


def test_loss_fell_on_train_and_validation(finished: tuple[RunResult, list[dict[str, Any]]]) -> None:
    s = finished[0].summary
    assert s["steps"] == 20
    assert s["train_loss_last"] < s["train_loss_first"]
    assert s["eval_loss_after"] < s["eval_loss_before"]
    assert s["evals"][0]["step"] == 0  # measured before training
    assert s["trained_tokens"] > 0 and s["tokens_per_s"] > 0


def test_only_adapter_weights_moved(
    finished: tuple[RunResult, list[dict[str, Any]]], model_settings: Settings
) -> None:
    from transformers import AutoModelForCausalLM

    from lorapipe.models.tiny import tiny_model_dir

    model = finished[0].model
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir("lorapipe/tiny-qwen3", model_settings))
    base = model.get_base_model().state_dict()
    compared = 0
    for name, tensor in original.state_dict().items():
        # PEFT renames wrapped layers' weights to ``<layer>.base_layer.weight``
        key = name if name in base else name.replace(".weight", ".base_layer.weight")
        assert torch.equal(base[key], tensor), name
        compared += 1
    assert compared == len(original.state_dict())
    lora_b = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b.values())  # B starts at zero
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_adapter_reloads_with_peft_and_generates(
    finished: tuple[RunResult, list[dict[str, Any]]], model_settings: Settings
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lorapipe.models.tiny import tiny_model_dir

    out = finished[0].out_dir
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir("lorapipe/tiny-qwen3", model_settings))
    model = PeftModel.from_pretrained(base, out)
    tok = AutoTokenizer.from_pretrained(out)  # the tokenizer and chat template travel with the adapter
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    gen = model.generate(input_ids=ids, max_new_tokens=6, do_sample=False)
    assert gen.shape[1] > ids.shape[1]
    reloaded = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    trained = {n: p for n, p in finished[0].model.named_parameters() if "lora_B" in n}
    assert reloaded.keys() == trained.keys()
    assert all(torch.equal(reloaded[n], trained[n]) for n in trained)


def test_manifest_lists_every_artifact_with_size_and_sha256(
    finished: tuple[RunResult, list[dict[str, Any]]],
) -> None:
    result = finished[0]
    out = result.out_dir
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    expected = {
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "README.md",
        "samples.json",
        "metrics.jsonl",
    }
    assert expected <= listed.keys()
    for path, entry in listed.items():
        data = (out / path).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest(), path
    assert not any(p.startswith("checkpoints/") for p in listed)
    assert manifest["config"]["rank"] == 8 and manifest["dataset"]["train_sha256"]
    assert manifest["libraries"]["peft"] and manifest["libraries"]["transformers"]
    assert manifest["metrics"]["eval_loss_after"] < manifest["metrics"]["eval_loss_before"]
    assert manifest["timings_s"]["training"] > 0 and manifest["metrics"]["peak_memory_bytes"] > 0
    # the process's peak RSS on CPU; the loss from hidden states in chunks, never the full logits
    assert manifest["metrics"]["peak_memory_measure"] == "rss"
    assert manifest["metrics"]["loss_computation"] == "chunked"
    assert (
        manifest["dataset"]["train"]["examples_used"] + manifest["dataset"]["validation"]["examples_used"]
        == 80
    )


def test_manifest_puts_the_estimators_prediction_beside_the_measured_peak(
    finished: tuple[RunResult, list[dict[str, Any]]],
) -> None:
    result = finished[0]
    memory = json.loads((result.out_dir / "manifest.json").read_text())["memory"]
    frozen = [p for _, p in result.model.named_parameters() if not p.requires_grad]
    weights = sum(p.numel() * p.element_size() for p in frozen)
    # predicted from the loaded model's own config at its real dtype (fp32 here): within the biases
    assert memory["predicted_parts_bytes"]["weights"] == pytest.approx(weights, rel=0.05)
    assert memory["estimate_inputs"]["base_bytes_per_param"] == 4.0
    assert memory["estimate_inputs"]["logits"] == "fused"  # the chunked loss never holds the full logits
    assert memory["estimate_inputs"]["max_length"] <= 256  # the longest row trained, not the cap
    assert memory["measure"] == "rss_growth" and memory["process_baseline_bytes"] > 0
    assert memory["predicted_peak_bytes"] == sum(memory["predicted_parts_bytes"].values())
    assert memory["ratio"] == pytest.approx(
        memory["measured_peak_bytes"] / memory["predicted_peak_bytes"], rel=1e-2
    )


def test_adapter_config_names_the_base_model_by_its_public_id(
    finished: tuple[RunResult, list[dict[str, Any]]],
) -> None:
    # PEFT writes the folder the base was loaded from: the adapter would then load nowhere else.
    config = json.loads((finished[0].out_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "lorapipe/tiny-qwen3"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_no_artifact_or_event_names_a_server_path(
    finished: tuple[RunResult, list[dict[str, Any]]], model_settings: Settings, arithmetic_dataset: Path
) -> None:
    result, events = finished
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["base_model"] == "lorapipe/tiny-qwen3" and "base_model_dir" not in manifest
    server = (str(model_settings.data_dir), str(result.out_dir), str(arithmetic_dataset.parent), "/tmp/")
    for name in [f["path"] for f in manifest["files"]] + ["manifest.json"]:
        text = (result.out_dir / name).read_text("utf-8", errors="replace")
        assert not [root for root in server if root in text], name
        docs = [json.loads(x) for x in text.splitlines()] if name.endswith(".jsonl") else []
        docs += [json.loads(text)] if name.endswith(".json") else []
        found = [s for doc in docs for s in _strings(doc) if s.startswith(server)]
        assert not found, (name, found)
    assert not [s for e in events for s in _strings(e) if s.startswith(server) or "/tmp/" in s]


def test_model_card_has_hf_metadata_and_metrics(finished: tuple[RunResult, list[dict[str, Any]]]) -> None:
    text = (finished[0].out_dir / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["base_model"] == "lorapipe/tiny-qwen3" and front["library_name"] == "peft"
    assert front["datasets"] == ["arith.jsonl"] and "lora" in front["tags"] and front["license"]
    assert "| eval loss after training |" in text


def test_samples_have_base_and_adapter_replies(finished: tuple[RunResult, list[dict[str, Any]]]) -> None:
    samples = json.loads((finished[0].out_dir / "samples.json").read_text())["samples"]
    assert len(samples) == 2
    assert all({"prompt", "reference", "base", "adapter"} <= s.keys() for s in samples)
    assert all(isinstance(s["base"], str) and isinstance(s["adapter"], str) for s in samples)


def test_event_stream(finished: tuple[RunResult, list[dict[str, Any]]]) -> None:
    events = finished[1]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    stages = [e["stage"] for e in events if e["type"] == "stage"]
    assert stages[:3] == ["downloading", "loading_model", "tokenizing"]
    assert stages.index("evaluating") < stages.index("training") < stages.index("saving")
    train = [e for e in events if e["type"] == "metrics" and e["phase"] == "train"]
    assert [e["step"] for e in train] == list(range(1, 21))
    for key in (
        "loss",
        "lr",
        "grad_norm",
        "tokens_per_s",
        "trained_tokens",
        "elapsed_s",
        "eta_s",
        "peak_memory_bytes",
        "total_steps",
        "epoch",
    ):
        assert train[-1][key] is not None, key
    evals = [e for e in events if e["type"] == "metrics" and e["phase"] == "eval"]
    assert [e["step"] for e in evals] == [0, 10, 20] and all(e["eval_perplexity"] > 1 for e in evals)
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [10, 20]
    logged = [json.loads(x) for x in (finished[0].out_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged == events  # the log file is the same stream


def test_upload_copies_every_listed_file_and_the_manifest(
    finished: tuple[RunResult, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from lorapipe.training.store_sync import upload_artifacts

    out = finished[0].out_dir
    names = upload_artifacts(out, (tmp_path / "bucket" / "job").as_uri(), Settings(data_dir=tmp_path))
    assert names[-1] == "manifest.json"  # last: a reader never sees a manifest without its files
    assert {"adapter_model.safetensors", "adapter_config.json"} <= set(names)
    for name in names:
        assert (tmp_path / "bucket" / "job" / name).read_bytes() == (out / name).read_bytes()


def test_upload_refuses_a_file_that_differs_from_its_manifest(
    finished: tuple[RunResult, list[dict[str, Any]]], tmp_path: Path
) -> None:
    import shutil

    from lorapipe.training.store_sync import upload_artifacts

    out = tmp_path / "copy"
    shutil.copytree(finished[0].out_dir, out)
    (out / "README.md").write_text("changed after the manifest was written")
    with pytest.raises(IntegrityError, match=r"README\.md"):
        upload_artifacts(out, (tmp_path / "bucket").as_uri(), Settings(data_dir=tmp_path))
    assert not (tmp_path / "bucket" / "manifest.json").exists()


def test_export_merged_matches_base_plus_adapter(
    finished: tuple[RunResult, list[dict[str, Any]]], model_settings: Settings, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    from lorapipe.training.export import export_merged

    merged_dir = export_merged(finished[0].out_dir, tmp_path / "merged", model_settings, dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    ids = torch.tensor([[1, 5, 9, 200, 300, 2]])
    adapted = finished[0].model.eval()
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-4)
