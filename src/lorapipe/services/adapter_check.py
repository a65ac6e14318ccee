"""Will an adapter load in vLLM? Read its ``adapter_config.json`` and the tensor names in its
safetensors header (no weights, no torch) and report each check with its reason, plus the exact
``vllm serve`` command when it passes.

Why these checks (users hit each one, see vllm-project/vllm#9280 and the research notes): vLLM loads
only LoRA A/B matrices of linear layers. It refuses ``modules_to_save`` (fully trained copies such as
``lm_head``) and DoRA, has no LoRA for the embeddings or the output head in current releases, and
starts with ``--max-lora-rank 16`` unless told otherwise, accepting only the values in
:data:`VLLM_MAX_LORA_RANKS` (``vllm/config/lora.py``: ``MaxLoRARanks``).
"""

from __future__ import annotations

import json
import re
import shlex
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from lorapipe.errors import UserError
from lorapipe.models.catalog import find_model_spec
from lorapipe.services.adapter_files import adapter_files, file_download
from lorapipe.services.adapters import adapter_row
from lorapipe.settings import Settings

VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values ``vllm serve --max-lora-rank`` accepts (``MaxLoRARanks`` in vllm/config/lora.py)."""
VLLM_DEFAULT_MAX_LORA_RANK = 16

_DECODER_LINEARS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
VLLM_LORA_MODULES: dict[str, frozenset[str]] = {
    "Qwen3ForCausalLM": _DECODER_LINEARS,
    "Qwen2ForCausalLM": _DECODER_LINEARS,
    "LlamaForCausalLM": _DECODER_LINEARS,
    "MistralForCausalLM": _DECODER_LINEARS,
}
"""Modules vLLM applies LoRA to, per architecture: the attention and MLP projections (vLLM packs
q/k/v into ``qkv_proj`` and gate/up into ``gate_up_proj`` and maps PEFT's names onto them)."""
_HEAD_OR_EMBEDDING = frozenset({"lm_head", "embed_tokens", "wte", "word_embeddings", "embed_out"})
_LORA_KEY = re.compile(
    r"^(?:.*\.)?(?P<module>[^.]+)\.lora_(?P<part>A|B|embedding_A|embedding_B|magnitude_vector)\b"
)
MAX_HEADER_BYTES = 100 * 1024 * 1024


class Finding(BaseModel):
    check: str
    ok: bool
    message: str


class AdapterCheck(BaseModel):
    """The verdict for one serving target: every check with its reason, and how to serve it."""

    target: Literal["vllm"] = "vllm"
    compatible: bool
    base_model: str | None
    revision: str | None
    rank: int | None
    max_lora_rank: int | None
    findings: list[Finding]
    command: str | None


def safetensors_keys(header: bytes) -> list[str]:
    """Tensor names from the start of a safetensors file (8-byte little-endian length, then JSON)."""
    if len(header) < 8:
        raise UserError("adapter_model.safetensors is too short to be a safetensors file", param="adapter")
    (length,) = struct.unpack("<Q", header[:8])
    if length > MAX_HEADER_BYTES or len(header) < 8 + length:
        raise UserError("adapter_model.safetensors has a truncated or oversized header", param="adapter")
    try:
        table = json.loads(header[8 : 8 + length])
    except ValueError:
        raise UserError("adapter_model.safetensors has a header that is not JSON", param="adapter") from None
    return sorted(k for k in table if k != "__metadata__")


def read_header(chunks: Iterable[bytes]) -> bytes:
    """As many leading bytes of a safetensors stream as its header needs (the weights are not read)."""
    data = b""
    for chunk in chunks:
        data += chunk
        if len(data) >= 8 and len(data) >= 8 + min(struct.unpack("<Q", data[:8])[0], MAX_HEADER_BYTES):
            break
    return data


def _module_names(keys: list[str]) -> tuple[set[str], set[str], set[str]]:
    """(modules with LoRA A/B, modules with embedding LoRA or DoRA magnitudes, fully saved tensors)."""
    lora, special, full = set(), set(), set()
    for key in keys:
        m = _LORA_KEY.match(key)
        if m is None:
            full.add(key)
        elif m["part"] in ("A", "B"):
            lora.add(m["module"])
        else:
            special.add(f"{m['module']} ({m['part']})")
    return lora, special, full


def _needed_rank(rank: int) -> int | None:
    """The --max-lora-rank to serve ``rank`` with: vLLM's default when it is enough (the server then
    keeps room for other adapters of that size), else the smallest accepted value above ``rank``."""
    return next((r for r in VLLM_MAX_LORA_RANKS if r >= max(rank, VLLM_DEFAULT_MAX_LORA_RANK)), None)


def check_for_vllm(
    config: dict[str, Any], weight_keys: list[str], *, name: str, path: str, max_lora_rank: int | None = None
) -> AdapterCheck:
    """Check an adapter (its config and tensor names) for ``vllm serve``. ``max_lora_rank``: the limit
    the target server runs with; None = the one this adapter needs (and the command passes it)."""
    findings: list[Finding] = []

    def report(check: str, ok: bool, message: str) -> None:
        findings.append(Finding(check=check, ok=ok, message=message))

    peft_type = str(config.get("peft_type") or "")
    report(
        "peft_type", peft_type == "LORA", f"peft_type {peft_type or 'missing'}: vLLM loads LoRA adapters only"
    )
    saved = config.get("modules_to_save") or []
    report(
        "modules_to_save",
        not saved,
        "no modules_to_save"
        if not saved
        else f"modules_to_save {sorted(saved)}: vLLM refuses adapters with fully trained modules; "
        "merge the adapter into its base instead (python -m lorapipe.training export-merged)",
    )
    report(
        "dora",
        not config.get("use_dora"),
        "DoRA: vLLM does not load DoRA adapters" if config.get("use_dora") else "plain LoRA (no DoRA)",
    )
    bias = str(config.get("bias") or "none")
    report("bias", bias == "none", f"bias {bias!r}: vLLM loads LoRA weights without bias terms")

    lora, special, full = _module_names(weight_keys)
    targets = set(lora)
    targeted = config.get("target_modules")
    if isinstance(targeted, list):
        targets |= {str(t).rsplit(".", 1)[-1] for t in targeted}
    head = sorted(targets & _HEAD_OR_EMBEDDING)
    report(
        "embeddings",
        not head and not special,
        "LoRA only on linear layers inside the blocks"
        if not head and not special
        else f"LoRA on {', '.join(head + sorted(special))}: current vLLM has no LoRA for embeddings or the "
        "output head; train without them",
    )
    report(
        "weights",
        bool(lora) and not full,
        f"{len(weight_keys)} tensors, all LoRA A/B"
        if lora and not full
        else "no LoRA A/B tensors in adapter_model.safetensors"
        if not lora
        else f"{len(full)} tensors are not LoRA A/B (e.g. {sorted(full)[0]}): full module copies vLLM refuses",
    )

    base = config.get("base_model_name_or_path") or None
    revision = config.get("revision") or None
    report(
        "base_model",
        bool(base),
        f"base model {base}" + (f" at revision {revision}" if revision else "")
        if base
        else "adapter_config.json names no base model (base_model_name_or_path): vllm serve needs it",
    )
    spec = find_model_spec(str(base)) if base else None
    architecture = spec.architecture if spec is not None else None
    supported = VLLM_LORA_MODULES.get(architecture or "")
    if supported is None:
        report(
            "target_modules",
            True,
            f"target modules {sorted(targets - _HEAD_OR_EMBEDDING)} not checked: architecture "
            f"{architecture or 'unknown (base not catalogued)'} has no entry in lorapipe's vLLM table",
        )
    else:
        unsupported = sorted(targets - supported - _HEAD_OR_EMBEDDING)
        report(
            "target_modules",
            not unsupported,
            f"{architecture}: LoRA on {', '.join(sorted(targets & supported))}, all supported by vLLM"
            if not unsupported
            else f"{architecture}: vLLM has no LoRA for {', '.join(unsupported)} "
            f"(supported: {', '.join(sorted(supported))})",
        )

    ranks = [int(config["r"])] if isinstance(config.get("r"), int) else []
    pattern = config.get("rank_pattern")
    if isinstance(pattern, dict):
        ranks += [int(v) for v in pattern.values() if isinstance(v, int)]
    rank = max(ranks) if ranks else None
    needed = _needed_rank(rank) if rank is not None else None
    limit = max_lora_rank if max_lora_rank is not None else needed
    if rank is None:
        report("rank", False, "adapter_config.json has no rank r")
    elif needed is None:
        report(
            "rank",
            False,
            f"rank {rank} is above {VLLM_MAX_LORA_RANKS[-1]}, the largest --max-lora-rank vLLM accepts",
        )
    elif max_lora_rank is not None and max_lora_rank not in VLLM_MAX_LORA_RANKS:
        report(
            "rank",
            False,
            f"--max-lora-rank {max_lora_rank} is refused by vLLM: use one of {VLLM_MAX_LORA_RANKS}",
        )
    elif max_lora_rank is not None and rank > max_lora_rank:
        report(
            "rank",
            False,
            f"rank {rank} is above the server's --max-lora-rank {max_lora_rank}; start it with {needed}",
        )
    else:
        default = "" if limit != VLLM_DEFAULT_MAX_LORA_RANK else " (vLLM's default)"
        report("rank", True, f"rank {rank}: serve with --max-lora-rank {limit}{default}")

    compatible = all(f.ok for f in findings)
    command = None
    if compatible and base and limit is not None:
        parts = ["vllm", "serve", str(base)]
        if revision:
            parts += ["--revision", str(revision)]
        parts += ["--enable-lora", "--max-lora-rank", str(limit), "--lora-modules", f"{name}={path}"]
        command = shlex.join(parts)
    return AdapterCheck(
        compatible=compatible,
        base_model=base,
        revision=revision,
        rank=rank,
        max_lora_rank=limit,
        findings=findings,
        command=command,
    )


def check_folder(
    folder: Path, *, name: str | None = None, path: str | None = None, max_lora_rank: int | None = None
) -> AdapterCheck:
    """Check an adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``) for vLLM;
    ``name`` and ``path`` are what the command calls it (default: the folder's name and path)."""
    config_path, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config_path.is_file():
        raise UserError(f"{folder} has no adapter_config.json: not a PEFT adapter folder", param="adapter")
    try:
        config = json.loads(config_path.read_text("utf-8"))
    except ValueError:
        raise UserError("adapter_config.json is not valid JSON", param="adapter") from None
    keys: list[str] = []
    if weights.is_file():
        with weights.open("rb") as handle:
            keys = safetensors_keys(read_header(iter(lambda: handle.read(1024 * 1024), b"")))
    return check_for_vllm(
        config, keys, name=name or folder.name, path=path or str(folder), max_lora_rank=max_lora_rank
    )


def check_stored_adapter(
    session: Session, settings: Settings, owner_id: str, adapter_id: str, *, max_lora_rank: int | None = None
) -> AdapterCheck:
    """Check one of the caller's adapters where it is stored (its config, and only the header of its
    weights). The command's path is the folder ``lorapipe adapters download`` writes."""
    row = adapter_row(session, owner_id, adapter_id)
    stored = {f.path for f in adapter_files(row)}
    if "adapter_config.json" not in stored:  # not a PEFT adapter folder: a verdict, not a missing object
        return AdapterCheck(
            compatible=False,
            base_model=None,
            revision=None,
            rank=None,
            max_lora_rank=max_lora_rank,
            findings=[
                Finding(
                    check="adapter_config",
                    ok=False,
                    message="the adapter has no adapter_config.json: not a PEFT adapter vLLM can load",
                )
            ],
            command=None,
        )
    config = json.loads(b"".join(file_download(row, "adapter_config.json", settings).chunks))
    keys: list[str] = []
    if "adapter_model.safetensors" in stored:
        keys = safetensors_keys(read_header(file_download(row, "adapter_model.safetensors", settings).chunks))
    folder = "".join(c if c.isalnum() or c in "._-" else "-" for c in row.name)
    return check_for_vllm(config, keys, name=row.name, path=f"./{folder}", max_lora_rank=max_lora_rank)
