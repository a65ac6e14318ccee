"""Our TrainingConfig as transformers' TrainingArguments, and the number of optimizer steps a run plans."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

from lorapipe.contract.config import TrainingConfig
from lorapipe.training.adapter import Hardware


def planned_steps(config: TrainingConfig, n_examples: int, world: int = 1) -> int:
    if config.max_steps:
        return config.max_steps
    per_epoch = max(
        1, math.ceil(math.ceil(n_examples / (config.batch_size * world)) / config.gradient_accumulation_steps)
    )
    return math.ceil(per_epoch * config.epochs)


def training_arguments(
    config: TrainingConfig, hw: Hardware, out: Path, *, has_validation: bool, eval_on_start: bool = False
) -> Any:
    from transformers import TrainingArguments

    interval = "steps" if config.eval_steps else "epoch"
    save_steps = config.save_steps or config.eval_steps
    return TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        optim=config.optimizer,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        logging_steps=config.logging_steps,
        logging_nan_inf_filter=False,  # a NaN must surface, not be averaged away
        eval_strategy=interval if has_validation else "no",
        eval_on_start=eval_on_start,
        eval_steps=config.eval_steps,
        save_strategy="steps" if save_steps else "epoch",
        save_steps=save_steps or 500,
        save_total_limit=config.keep_checkpoints,
        metric_for_best_model="eval_loss" if has_validation else None,
        greater_is_better=False,
        bf16=hw.precision == "bf16",
        fp16=hw.precision == "fp16",
        use_cpu=hw.device == "cpu",
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        # The best adapter is picked by us (checkpoints.load_adapter_weights): the Trainer's own reload would also
        # demand save/eval step alignment for runs whose final adapter is the last one.
        load_best_model_at_end=False,
        # On a GPU, Liger's fused linear cross-entropy where installed (the Trainer patches the model);
        # elsewhere EngineTrainer's chunked loss keeps the full logits from being materialised.
        use_liger_kernel=hw.device == "cuda" and importlib.util.find_spec("liger_kernel") is not None,
    )
