"""Model sources: tiny models build, reload and generate; paths and hub ids fail clearly."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from lorapipe.errors import ConfigError, ModelDownloadError, ModelNotFoundError, UnknownModelError
from lorapipe.models.catalog import get_model_spec
from lorapipe.models.sources import _folder_tokenizer, _from_hub, load_model, load_tokenizer, resolve_model
from lorapipe.models.tiny import TINY_QWEN3, TINY_QWEN3_REALVOCAB, chat_template, real_qwen_tokenizer_dir
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_model_builds_reloads_and_generates(model_settings: Settings) -> None:
    import torch

    resolved = resolve_model(TINY_QWEN3, model_settings)
    assert resolved.kind == "tiny" and resolved.spec is not None
    built_at = (resolved.path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("tiny-qwen3", model_settings).path == resolved.path  # reused, not rebuilt
    assert (resolved.path / "model.safetensors").stat().st_mtime_ns == built_at

    model = load_model(TINY_QWEN3, model_settings, dtype="float32")
    tok = load_tokenizer(TINY_QWEN3, model_settings)
    spec = get_model_spec(TINY_QWEN3)
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size) == (64, 2, spec.vocab_size)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (4, 2, 16)
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(spec.params_total_b, rel=0.01)
    assert model.dtype == torch.float32

    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}], add_generation_prompt=True, return_dict=True
    )
    ids = torch.tensor([prompt["input_ids"]])
    out = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=5, do_sample=False
    )
    assert out.shape[1] > ids.shape[1]
    assert tok.decode(ids[0]).endswith("<|im_start|>assistant\n")


def test_tiny_build_is_deterministic(model_settings: Settings, tmp_path: Path) -> None:
    first = resolve_model(TINY_QWEN3, model_settings).path
    second = resolve_model(TINY_QWEN3, Settings(data_dir=tmp_path)).path
    assert first != second
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert sha256(first / name) == sha256(second / name), name
    assert not [p for p in second.parent.iterdir() if p.name.endswith(".partial")]  # no scratch left


def test_realvocab_tiny_model_has_real_qwen_ids(model_settings: Settings) -> None:
    tok = load_tokenizer(TINY_QWEN3_REALVOCAB, model_settings)
    assert len(tok) == 151669
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [
        151643,
        151644,
        151645,
    ]
    model = load_model(TINY_QWEN3_REALVOCAB, model_settings)
    assert model.config.vocab_size == 151669 and model.config.eos_token_id == 151645


def test_catalogued_qwen3_tokenizer_works_offline_with_our_template(model_settings: Settings) -> None:
    tok = load_tokenizer("Qwen/Qwen3-8B", model_settings)
    assert len(tok) == 151669 and tok.eos_token == "<|im_end|>"
    assert tok.chat_template == chat_template("qwen3")
    assert load_tokenizer("qwen3-next-80b-a3b", model_settings).chat_template == chat_template("chatml")


def test_cached_tokenizer_names_its_added_tokens_and_loads_as_an_older_cache(
    model_settings: Settings, tmp_path: Path
) -> None:
    """The built Qwen tokenizer lists its added tokens in tokenizer_config.json, so loading it skips
    transformers' Python parse of tokenizer.json; a folder without them (an older cache) still loads,
    to the same tokenizer."""
    folder = real_qwen_tokenizer_dir(model_settings)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["added_tokens_decoder"]["151645"]["content"] == "<|im_end|>"
    assert len(config["added_tokens_decoder"]) == 26
    older = tmp_path / "older"
    shutil.copytree(folder, older)
    del config["added_tokens_decoder"]
    (older / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")

    new, old = _folder_tokenizer(folder), _folder_tokenizer(older)
    assert type(new) is type(old)
    assert new.backend_tokenizer.to_str() == old.backend_tokenizer.to_str()
    states = [{i: t.__getstate__() for i, t in tok.added_tokens_decoder.items()} for tok in (new, old)]
    assert states[0] == states[1]
    assert new.special_tokens_map == old.special_tokens_map
    assert (new.eos_token_id, new.pad_token_id, new.all_special_ids) == (
        old.eos_token_id,
        old.pad_token_id,
        old.all_special_ids,
    )
    chat = [{"role": "user", "content": "café <think>x</think>"}, {"role": "assistant", "content": "yes"}]
    assert new.apply_chat_template(chat, tokenize=True) == old.apply_chat_template(chat, tokenize=True)


def test_local_folder_is_used_as_is(model_settings: Settings) -> None:
    folder = resolve_model(TINY_QWEN3, model_settings).path
    resolved = resolve_model(str(folder), model_settings)
    assert (resolved.path, resolved.kind, resolved.spec) == (folder, "local", None)
    assert "generation" in load_tokenizer(str(folder), model_settings).chat_template


@pytest.mark.parametrize("ref", ["./no/such/model", "/no/such/model", "~/no-such-model", "a/b/c", "x.gguf"])
def test_missing_path_is_an_error_never_a_hub_id(model_settings: Settings, ref: str) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist") as info:
        resolve_model(ref, model_settings)
    assert info.value.code == "model_not_found"
    assert repr(ref) in str(info.value)
    assert "/" not in str(info.value).replace(repr(ref), "")  # the reference as given, no folder


def test_folder_without_config_is_an_error(model_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model(str(tmp_path), model_settings)


def test_bare_unknown_name_is_an_unknown_model(model_settings: Settings) -> None:
    with pytest.raises(UnknownModelError, match="neither a catalogued model"):
        resolve_model("gpt-nine", model_settings)


def test_uncached_hub_model_without_download_is_not_found(model_settings: Settings) -> None:
    with pytest.raises(ModelNotFoundError, match=r"Qwen/Qwen3-0\.6B is not in the model cache") as info:
        resolve_model("Qwen/Qwen3-0.6B", model_settings, download=False)
    assert str(model_settings.data_dir) not in str(info.value)


def test_unreachable_hub_gives_a_clear_retried_error(
    model_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # Port 9 (discard) on loopback refuses connections: the hub is unreachable at once.
    with pytest.raises(ModelDownloadError) as info:
        _from_hub("someone/some-model", model_settings, download=True, endpoint="http://127.0.0.1:9")
    assert "could not download someone/some-model from the hub at http://127.0.0.1:9" in str(info.value)
    assert info.value.kind == "capacity" and "hub is unreachable" in str(info.value)
    assert str(model_settings.data_dir) not in str(info.value)


def test_4bit_loading_without_cuda_is_a_config_error(model_settings: Settings) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: 4-bit loading is exercised by tests/gpu")
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        load_model(TINY_QWEN3, model_settings, quantization="nf4")
