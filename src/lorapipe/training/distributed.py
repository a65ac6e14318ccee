"""How a run uses its devices: one process, DDP (a copy of the model per GPU) or FSDP (the model sharded
across the GPUs), decided once by the process that owns the run, before any rank starts.

Rules (:func:`choose`), in order:

1. processes = ``spec.gpus``, capped at the CUDA devices visible; on a machine without CUDA the number
   asked (CPU processes, gloo), always data-parallel: accelerate (1.15) enables FSDP only for GPU
   backends. One process: ``single``.
2. ``qlora``: DDP. Each GPU holds its own 4-bit copy; the FSDP+QLoRA recipe (quantised storage that FSDP
   can flatten) is not wired in this engine, so forcing FSDP with qlora is refused.
3. ``--sharding ddp|fsdp`` (an operator override) wins.
4. otherwise DDP when the base weights, as trained, take at most :data:`FIT_FRACTION` of one device's
   memory, else FSDP. The rest of a device goes to activations, logits, adapter + optimizer state and
   the CUDA context; the estimator (``lorapipe.estimate.vram``) prices those in detail, this rule only
   has to pick the side of the fence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lorapipe.contract.config import TrainingConfig
from lorapipe.contract.events import DistributedMode
from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import ConfigError
from lorapipe.settings import Settings
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import CancelFlag

Sharding = Literal["auto", "ddp", "fsdp"]
FIT_FRACTION = 0.6
"""Largest share of one device's memory the base weights may take for a run to stay data-parallel."""
BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0, "nf4": 0.55}
"""Stored bytes per base parameter as trained (NF4: 4 bits, block scales and unquantised norms)."""


@dataclass(frozen=True)
class Plan:
    """The decision and what it was made from (sent as the ``distributed`` event)."""

    mode: DistributedMode
    world_size: int
    gpus_requested: int
    reason: str
    model_bytes: int | None = None
    device_memory_bytes: int | None = None
    wrap_classes: tuple[str, ...] = ()
    """Decoder-layer class names FSDP wraps one unit each (from the model's ``_no_split_modules``)."""

    def event_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        fields.pop("wrap_classes")
        return {k: v for k, v in fields.items() if v is not None}


def choose(
    *,
    gpus_requested: int,
    devices: int | None,
    method: str,
    model_bytes: int | None,
    device_memory_bytes: int | None,
    sharding: Sharding = "auto",
    wrap_classes: tuple[str, ...] = (),
) -> Plan:
    """The plan for these facts. ``devices`` is the CUDA devices visible (None on a CPU machine, where
    every process asked for runs)."""

    def plan(mode: DistributedMode, world: int, reason: str) -> Plan:
        wrap = wrap_classes if mode == "fsdp" else ()
        return Plan(mode, world, gpus_requested, reason, model_bytes, device_memory_bytes, wrap)

    world = gpus_requested if devices is None else max(1, min(gpus_requested, devices))
    capped = f" (capped: {devices} GPU(s) visible)" if devices is not None and world < gpus_requested else ""
    if method == "qlora" and sharding == "fsdp":
        raise ConfigError(
            "FSDP with method='qlora' is not supported by this engine",
            param="sharding",
            hint="use method 'lora' for FSDP, or let qlora run data-parallel (sharding auto or ddp)",
        )
    if world == 1:
        if sharding != "auto" and gpus_requested > 1:
            raise ConfigError(
                f"--sharding {sharding} needs several processes, but only 1 can run{capped}",
                param="gpus",
                hint="run on a machine with more GPUs, or leave sharding on auto",
            )
        return plan("single", 1, f"{gpus_requested} GPU(s) requested{capped}: one process")
    if devices is None:
        if sharding == "fsdp":
            raise ConfigError(
                "FSDP needs CUDA GPUs: accelerate shards a model across GPUs only, not CPU processes",
                param="sharding",
                hint="use sharding auto or ddp on a CPU machine",
            )
        reason = (
            f"{world} CPU processes (gloo): data-parallel, since accelerate shards (FSDP) across GPUs only"
        )
        return plan("ddp", world, reason)
    if method == "qlora":
        reason = (
            f"{world} processes{capped}, qlora: each GPU holds its own 4-bit copy (FSDP+QLoRA not supported)"
        )
        return plan("ddp", world, reason)
    if sharding != "auto":
        reason = f"{world} processes{capped}, {sharding} forced by --sharding"
        return plan(sharding, world, reason)
    if model_bytes is None or device_memory_bytes is None:
        reason = f"{world} processes{capped}, model size or device memory unknown: DDP"
        return plan("ddp", world, reason)
    share = model_bytes / device_memory_bytes
    if share <= FIT_FRACTION:
        reason = (
            f"{world} processes{capped}: the base weights ({model_bytes / 2**30:.2f} GiB) take {share:.0%} of "
            f"one device ({device_memory_bytes / 2**30:.1f} GiB), at most {FIT_FRACTION:.0%}: DDP"
        )
        return plan("ddp", world, reason)
    reason = (
        f"{world} processes{capped}: the base weights ({model_bytes / 2**30:.2f} GiB) take {share:.0%} of one "
        f"device ({device_memory_bytes / 2**30:.1f} GiB), over {FIT_FRACTION:.0%}: FSDP shards them"
    )
    return plan("fsdp", world, reason)


def model_facts(
    model_dir: Path, config: TrainingConfig, precision: str
) -> tuple[int | None, tuple[str, ...]]:
    """(bytes of the base weights as trained, decoder-layer class names) from the model's config alone:
    the model is built on the meta device, so nothing is allocated. (None, ()) when the config cannot
    be read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        cfg = AutoConfig.from_pretrained(str(model_dir))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg)
    except (OSError, ValueError, KeyError):
        return None, ()
    params = sum(p.numel() for p in model.parameters())
    per_param = BYTES_PER_PARAM["nf4" if config.method == "qlora" else precision]
    return int(params * per_param), tuple(getattr(model, "_no_split_modules", None) or ())


def device_facts(gpus_requested: int) -> tuple[int | None, int | None]:
    """(CUDA devices visible or None without CUDA, memory of one device in bytes). On CPU every process
    shares the machine's memory, so one "device" is its share."""
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        return count, min(torch.cuda.get_device_properties(i).total_memory for i in range(count))
    import psutil

    return None, int(psutil.virtual_memory().total // max(gpus_requested, 1))


def checkpoint_layout(progress_file: Path) -> tuple[str, int] | None:
    """(mode, world size) a checkpoint was written with, from its progress file (None when unrecorded)."""
    import json

    if not progress_file.exists():
        return None
    saved = json.loads(progress_file.read_text("utf-8"))
    if "world_size" not in saved:
        return None
    return str(saved.get("sharding", "single")), int(saved["world_size"])


def check_resume(mode_now: str, world_now: int, layout: tuple[str, int] | None) -> str | None:
    """Refuse a resume the libraries cannot do; return a warning for one that changes the data order.

    A DDP or single-process checkpoint holds the full adapter and optimizer state, so any world size can
    continue it (RNG states and the batch split differ). An FSDP checkpoint is written for its world
    size and sharding; it continues only with the same ones.
    """
    if layout is None:
        return None
    mode, world = layout
    if (mode == "fsdp" or mode_now == "fsdp") and (mode, world) != (mode_now, world_now):
        raise ConfigError(
            f"the checkpoint was written by {mode} on {world} process(es); this run is {mode_now} on "
            f"{world_now}: an FSDP checkpoint continues only with the same sharding and world size",
            param="gpus",
            hint=f"resume with gpus={world}" + (" and --sharding fsdp" if mode == "fsdp" else ""),
        )
    if world != world_now:
        return (
            f"resuming a checkpoint of {world} process(es) on {world_now}: the adapter and optimizer "
            "continue, but batches are split differently, so the loss curve will not match an "
            "uninterrupted run exactly"
        )
    return None


def plan_run(
    spec: TrainingJobSpec, settings: Settings, events: EventWriter, cancel: CancelFlag, sharding: Sharding
) -> Plan:
    """Decide how ``spec`` runs here and say so (a ``distributed`` event). Several GPUs need the model's
    size, so its folder is resolved first (downloaded once here, not by every rank)."""
    if spec.gpus == 1 and sharding == "auto":
        plan = choose(
            gpus_requested=1,
            devices=None,
            method=spec.config.method,
            model_bytes=None,
            device_memory_bytes=None,
        )
    else:
        from lorapipe.training.adapter import pick_hardware
        from lorapipe.training.fetch import download_progress, public_model, resolve_base_model

        name = public_model(spec)
        events.stage("downloading", message=name)
        model_dir, _ = resolve_base_model(spec, settings, download_progress(events, cancel, name))
        model_bytes, wrap = model_facts(model_dir, spec.config, pick_hardware(spec.config).precision)
        devices, memory = device_facts(spec.gpus)
        plan = choose(
            gpus_requested=spec.gpus,
            devices=devices,
            method=spec.config.method,
            model_bytes=model_bytes,
            device_memory_bytes=memory,
            sharding=sharding,
            wrap_classes=wrap,
        )
    events.emit("distributed", **plan.event_fields())
    return plan


def any_rank(flag: bool, device: Any) -> bool:
    """``flag`` or'ed over every rank (a collective: every rank calls it at the same point). One process:
    ``flag``. Ranks use it to agree on stopping, so all of them save the same checkpoint."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_adapter_state(model: Any) -> dict[str, Any]:
    """The trainable (adapter) weights as full CPU tensors, keyed as ``model.state_dict()`` keys them.
    Under FSDP each sharded weight is all-gathered (a collective: every rank calls this); only the
    adapter is gathered, never the base, so rank 0 needs no room for the whole model."""
    from torch.distributed.tensor import DTensor

    state = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            full = param.full_tensor() if isinstance(param, DTensor) else param
            state[name] = full.detach().cpu().clone()
    return state
