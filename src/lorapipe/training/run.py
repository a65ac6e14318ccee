"""The engine's recipe: one job spec in, one self-describing adapter folder out. Read top to bottom.

1. downloading   fetch the dataset (and validation file), check hashes; resolve the base model
2. loading_model tokenizer and base model (4-bit for qlora), then a fresh LoRA adapter on it
3. tokenizing    canonical examples -> ids with assistant-only labels; split by conversation
4. evaluating    validation loss before any training (step 0), so the adapter's gain is measured
5. training      HF Trainer: length-grouped or packed batches, evals, checkpoints (keep K, and the best)
6. saving        adapter + tokenizer + chat template, samples.json, README.md, manifest.json
7. uploading     copy the folder to the spec's upload URI, when there is one

Cancellation (SIGTERM) saves a checkpoint and raises :class:`Cancelled`; ``--resume`` continues from
the newest checkpoint with model, optimizer, scheduler, data order and RNG restored.

Length: the recipe is kept in one file on purpose (STYLE: a training loop read top to bottom).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorapipe.contract.config import TrainingConfig
from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import ConfigError, DatasetError
from lorapipe.models.references import hub_revision
from lorapipe.settings import Settings
from lorapipe.training import allocator, artifacts
from lorapipe.training.adapter import (
    add_adapter,
    load_base_model,
    pick_hardware,
    trainable_parameters,
)
from lorapipe.training.arguments import planned_steps, training_arguments
from lorapipe.training.callbacks import (
    PROGRESS_FILE,
    EarlyStopping,
    EngineTrainer,
    EventsCallback,
    Progress,
    restore_progress,
)
from lorapipe.training.checkpoints import finished_from, latest_checkpoint, load_adapter_weights, step_of
from lorapipe.training.data import (
    EncodedSet,
    EpochBatchOrder,
    PaddingCollator,
    collated_efficiency,
    encode_examples,
    load_examples,
    make_collator,
    padding_efficiency,
    sorted_for_eval,
    split_by_conversation,
)
from lorapipe.training.distributed import check_resume, checkpoint_layout, gather_adapter_state
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import CancelFlag, Cancelled
from lorapipe.training.fetch import (
    dataset_name,
    download_progress,
    fetch_data,
    model_ref,
    model_settings,
    public_model,
    resolve_base_model,
)
from lorapipe.training.generation import generate_samples
from lorapipe.training.memory_report import current_rss_bytes, memory_report
from lorapipe.training.store_sync import CheckpointMirror, fetch_latest_checkpoint, upload_artifacts
from lorapipe.training.summary import dataset_facts, run_summary

CHECKPOINTS = "checkpoints"
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


@dataclass
class RunResult:
    out_dir: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    model: Any
    """The trained PeftModel (in-process callers inspect it; the CLI ignores it)."""


def run(
    spec: TrainingJobSpec,
    out_dir: Path,
    events: EventWriter,
    *,
    resume: bool = False,
    cancel: CancelFlag | None = None,
    settings: Settings | None = None,
    main_process: bool = True,
) -> RunResult:
    """Train ``spec`` into ``out_dir``; raises a :class:`LorapipeError` or :class:`Cancelled` on failure.

    Under ``accelerate launch`` every rank runs this; only the main process (``main_process``) writes
    the final artifacts (the Trainer already restricts checkpoints to it).
    """
    cancel = cancel or CancelFlag()
    settings = settings or Settings()
    config = spec.config
    timings: dict[str, float] = {}
    clock = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    _refuse_to_overwrite(out_dir)

    def stage_done(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.monotonic() - clock, 3)
        clock = time.monotonic()
        if cancel.requested:
            raise Cancelled(checkpoint=None)

    # 1. downloading ----------------------------------------------------------------------------
    events.stage("downloading")
    base_model = public_model(spec)  # what users see: never the folder it is loaded from
    train_file = fetch_data(spec.dataset, out_dir / "work")
    val_file = fetch_data(spec.validation, out_dir / "work", "validation") if spec.validation else None
    _, license = resolve_base_model(spec, settings, download_progress(events, cancel, base_model))
    stage_done("downloading")

    # 2. loading_model --------------------------------------------------------------------------
    events.stage("loading_model", message=base_model)
    import transformers

    from lorapipe.models.sources import load_tokenizer

    transformers.set_seed(config.seed)  # the adapter's random init comes from here
    allocator.map_large_blocks()  # freed blocks of 16 MiB and more leave the process (training/allocator.py)
    hw = pick_hardware(config)
    msettings = model_settings(spec, settings)
    tokenizer = load_tokenizer(model_ref(spec), msettings)  # with lorapipe's {% generation %} template
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # labels mask padding by position, so sharing is safe
    baseline_rss = current_rss_bytes()  # the process before the model: what its peak is measured over
    model = add_adapter(load_base_model(model_ref(spec), msettings, config, hw), config)
    trainable, total = trainable_parameters(model)
    stage_done("loading_model")

    # 3. tokenizing -----------------------------------------------------------------------------
    events.stage("tokenizing")
    train_examples = load_examples(train_file, spec.dataset.format)
    if val_file is not None:
        val_examples = load_examples(val_file, spec.validation.format if spec.validation else None)
    else:
        train_examples, val_examples = split_by_conversation(
            train_examples, config.validation_split, config.seed
        )
    thinking = {"auto": None, "on": True, "off": False}[config.thinking]
    train_set = encode_examples(tokenizer, train_examples, config.max_length, thinking)
    val_set = encode_examples(tokenizer, val_examples, config.max_length, thinking)
    _check_data(train_set, val_set, config, events)
    world = _world_size()
    # One global batch per step, split across the ranks: DDP x N at batch b trains what one process at
    # batch N*b does (the launcher's data loader hands rank i the i-th slice of each global batch).
    order = EpochBatchOrder(
        train_set.lengths, config.batch_size * world, config.seed, group=not config.packing
    )
    if config.packing:  # measured on what the packing collator makes of this epoch's batches
        packer = make_collator(True, tokenizer.pad_token_id, flash_attention=hw.attention.startswith("flash"))
        efficiency = collated_efficiency(packer, train_set.features, order.batches())
    else:
        efficiency = padding_efficiency(train_set.lengths, order.batches())
    stage_done("tokenizing")

    # 4-5. evaluating, training -------------------------------------------------------------------
    checkpoint = latest_checkpoint(out_dir / CHECKPOINTS) if resume else None
    if resume and checkpoint is None and spec.output.checkpoint_uri:  # a fresh machine: fetch the newest
        checkpoint = fetch_latest_checkpoint(spec.output.checkpoint_uri, out_dir / CHECKPOINTS, settings)
    progress = Progress(world_size=world, sharding="single" if world == 1 else "ddp")
    callback = EventsCallback(events, progress, cancel, out_dir)
    trainer = EngineTrainer(
        model=model,
        args=training_arguments(
            config,
            hw,
            out_dir / CHECKPOINTS,
            has_validation=bool(val_set.features),
            # Several processes: the step-0 evaluation runs inside train(). Called before it, evaluate()
            # prepares the model for evaluation only and marks it prepared, so train() would never wrap
            # it in DDP and the ranks' gradients would not be averaged (transformers 5.24 / accelerate 1.15).
            eval_on_start=world > 1 and bool(val_set.features) and checkpoint is None,
        ),
        train_dataset=train_set.features,
        eval_dataset=sorted_for_eval(val_set) or None,
        data_collator=make_collator(
            config.packing, tokenizer.pad_token_id, flash_attention=hw.attention.startswith("flash")
        ),
        callbacks=[
            callback,
            *_early_stopping(config, events, progress, bool(val_set.features)),
            *(
                [CheckpointMirror(uri, settings, events, main_process)]
                if (uri := spec.output.checkpoint_uri)
                else []
            ),
        ],
        order=order,
        progress=progress,
        events=events,
        eval_collator=PaddingCollator(tokenizer.pad_token_id),
    )
    fsdp = bool(trainer.is_fsdp_enabled)
    progress.sharding = "fsdp" if fsdp else progress.sharding
    if checkpoint is not None:  # refuses an FSDP checkpoint on another world size, before any training
        layout = checkpoint_layout(checkpoint / PROGRESS_FILE)
        if changed := check_resume(progress.sharding, world, layout):
            events.warning("world_size_changed", changed)
    if resume and checkpoint is None:
        events.warning(
            "no_checkpoint", "--resume given but no checkpoint exists; starting from the beginning"
        )
    callback.total_steps = planned_steps(config, len(train_set.features), world)
    if checkpoint is not None:
        restore_progress(checkpoint, progress)
    elif val_set.features and world == 1:
        trainer.evaluate()  # step 0: the base model's loss, so the adapter's gain is measured
    events.stage("training")
    if checkpoint is not None and (step_of(str(checkpoint)) or 0) >= callback.total_steps:
        # Stopped after its last step (during the final eval or the save): nothing is left to train, and
        # transformers' loop would run one step past max_steps before it checks (5.24).
        finished_from(trainer, model, checkpoint)
    else:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if cancel.requested:
        saved = progress.last_checkpoint  # named as the checkpoint events name it: inside the output folder
        raise Cancelled(checkpoint=str(Path(saved).relative_to(out_dir)) if saved else None)
    if val_set.features and progress.last_eval_step != trainer.state.global_step:
        trainer.evaluate()
    stage_done("training")

    # 6. saving ---------------------------------------------------------------------------------
    events.stage("saving")
    best: str | None = (
        trainer.state.best_model_checkpoint if config.final_adapter == "best" and val_set.features else None
    )
    if fsdp:  # every rank holds a shard: gather the adapter, and generate together (collectives)
        if best:
            events.warning(
                "final_adapter_last",
                "FSDP runs keep the last adapter (final_adapter='best' is "
                "not supported with sharded weights); the best checkpoint stays in checkpoints/",
            )
        best = None
        adapter_state = gather_adapter_state(model)
        samples = generate_samples(model, tokenizer, val_examples or train_examples, config, hw, synced=True)
    if not main_process:
        return RunResult(out_dir=out_dir, manifest={}, summary={}, model=model)
    if best:
        load_adapter_weights(model, Path(best))
    model.save_pretrained(out_dir, **({"state_dict": adapter_state} if fsdp else {}))
    artifacts.name_base_model(out_dir / "adapter_config.json", base_model, hub_revision(model_ref(spec)))
    tokenizer.save_pretrained(out_dir)
    if not fsdp:
        samples = generate_samples(model, tokenizer, val_examples or train_examples, config, hw)
    artifacts.write_samples(out_dir / "samples.json", samples)
    summary = run_summary(trainer, progress, train_set, val_set, efficiency, trainable, total)
    summary["final_adapter_step"] = (
        step_of(trainer.state.best_model_checkpoint)
        if (config.final_adapter == "best" and trainer.state.best_model_checkpoint)
        else trainer.state.global_step
    )
    artifacts.write_model_card(
        out_dir / "README.md",
        base_model=base_model,
        dataset_name=dataset_name(spec.dataset),
        license=license,
        summary=summary,
        config=config.model_dump(mode="json"),
        job_id=spec.job_id,
    )
    stage_done("saving")
    events.close()  # metrics.jsonl is final from here on: the manifest checksums it
    manifest = artifacts.write_manifest(
        out_dir,
        {
            "job_id": spec.job_id,
            "base_model": base_model,
            "config": config.model_dump(mode="json"),
            "hardware": {"device": hw.device, "precision": hw.precision, "attention": hw.attention},
            "dataset": dataset_facts(train_file, val_file, train_set, val_set, efficiency),
            "metrics": summary,
            "memory": memory_report(
                model,
                config,
                precision=hw.precision,
                longest_row=config.max_length if config.packing else max(train_set.lengths, default=1),
                loss_computation=str(summary["loss_computation"]),
                peak_bytes=int(summary["peak_memory_bytes"]),
                peak_measure=str(summary["peak_memory_measure"]),
                baseline_rss_bytes=baseline_rss,
            ),
            "timings_s": timings,
            "metadata": dict(spec.metadata),
        },
    )

    # 7. uploading ------------------------------------------------------------------------------
    if spec.output.upload_uri:
        events.stage("uploading")
        upload_artifacts(out_dir, spec.output.upload_uri, settings)
    clean_work(out_dir)
    return RunResult(out_dir=out_dir, manifest=manifest, summary=summary, model=model)


def _refuse_to_overwrite(out_dir: Path) -> None:
    if (out_dir / artifacts.MANIFEST).exists():
        raise ConfigError(
            "the output folder already holds a finished adapter (manifest.json)",
            param="out",
            hint="choose an empty output folder",
        )


def _check_data(train: EncodedSet, val: EncodedSet, config: TrainingConfig, events: EventWriter) -> None:
    for name, enc in (("training", train), ("validation", val)):
        if enc.skipped_too_long:
            events.warning(
                "examples_too_long",
                f"{enc.skipped_too_long} {name} example(s) skipped: system + last user turn + reply exceed "
                f"max_length={config.max_length} (raise max_length to keep them)",
            )
        if enc.truncated:
            events.warning(
                "history_truncated", f"{enc.truncated} {name} example(s) lost their oldest turns to fit"
            )
    if val.examples and not val.features:
        events.warning(
            "no_validation", "no validation example fits max_length: eval loss will not be measured"
        )
    if not train.features:
        raise DatasetError(
            f"no usable training examples ({train.stats()})",
            param="dataset",
            hint="check the dataset report: examples need a trained assistant reply that fits max_length",
        )


def _early_stopping(
    config: TrainingConfig, events: EventWriter, progress: Progress, has_validation: bool
) -> list[Any]:
    if config.early_stopping_patience is None:
        return []
    if not has_validation:
        events.warning("early_stopping_off", "early stopping needs validation data; it is off for this run")
        return []
    return [EarlyStopping(events, progress, config.early_stopping_patience, config.early_stopping_threshold)]


def _world_size() -> int:
    """Processes training together (1 unless started by ``accelerate launch``)."""
    from accelerate import PartialState

    return int(PartialState().num_processes)


def clean_work(out_dir: Path) -> None:
    """Remove downloaded copies (the manifest keeps their hashes)."""
    shutil.rmtree(out_dir / "work", ignore_errors=True)
