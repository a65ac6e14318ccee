"""One rank of the FSDP-on-CPU check (started twice by ``torch.distributed.run``, gloo).

accelerate 1.15 enables FSDP only for accelerator backends, so the engine cannot run FSDP on a CPU
under ``accelerate launch``; this drives torch's own FSDP2 (``fully_shard``, what the engine's launch
asks accelerate for) over the tiny Qwen3 with LoRA, then saves the adapter exactly as the engine's
FSDP path does: :func:`lorapipe.training.distributed.gather_adapter_state` on every rank (a
collective) and ``save_pretrained(state_dict=...)`` on rank 0.

    python -m torch.distributed.run --nproc_per_node 2 fsdp_cpu_worker.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from peft import LoraConfig, get_peft_model
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from transformers import Qwen3Config, Qwen3ForCausalLM

from lorapipe.training.distributed import gather_adapter_state

STEPS = 6
VOCAB = 128


def tiny_peft_model(save_base_to: Path | None = None) -> torch.nn.Module:
    """The tiny Qwen3 (seeded) with a LoRA adapter; the base is saved first when asked (after
    ``get_peft_model`` its layers carry the LoRA wrappers)."""
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
    )
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    base = Qwen3ForCausalLM(config)
    if save_base_to is not None:
        base.save_pretrained(save_base_to)
    return get_peft_model(base, lora)


def batch(rank: int) -> torch.Tensor:
    """Rank ``rank``'s share of every step's batch (the same on every step)."""
    return torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(100 + rank))


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = tiny_peft_model(out / "base" if rank == 0 else None)
    mesh = init_device_mesh("cpu", (world,))
    for layer in model.base_model.model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    sharded = sum(1 for p in model.parameters() if p.to_local().numel() < p.numel())  # type: ignore[attr-defined]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = batch(rank)
    losses = []
    for _ in range(STEPS):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
    state = gather_adapter_state(model)  # every rank: a collective
    if rank == 0:
        model.save_pretrained(out / "adapter", state_dict=state)
        (out / "result.json").write_text(json.dumps({"losses": losses, "sharded_params": sharded}))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
