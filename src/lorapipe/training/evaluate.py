"""The evaluation recipe: a finished adapter and its base measured on the same held-out data.

1. downloading   the adapter folder (every file checked against its manifest), the data, the base model
2. loading_model the base with the adapter on it (the adapter switched off gives the base)
3. tokenizing    the held-out examples, encoded exactly as training encoded them (assistant-only labels)
4. evaluating    per example: summed token loss of the base and of the adapter; then both models answer
                 a few held-out prompts greedily: does the reply end (an end-of-turn token) in time?
5. saving        ``evaluation.json`` and a manifest; 6. uploading, like a training run

Loss is token-weighted (the sum of every trained token's loss over their count), so an example's
weight is its length, as in training. Perplexity is ``exp(loss)``. Categories come from the scaffolding
metadata the data carries (``persona_archetype``, ``emotional_arc_key``, ``training_topic_key``, ...).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lorapipe.contract.artifacts import EVALUATION_REPORT
from lorapipe.contract.conversation import Example
from lorapipe.contract.spec import EvaluationRef, TrainingJobSpec
from lorapipe.datasets.inspect import METADATA_KEYS
from lorapipe.errors import DatasetError, IntegrityError, StorageError
from lorapipe.models.encoding import IGNORE_INDEX
from lorapipe.settings import Settings
from lorapipe.training import artifacts
from lorapipe.training.adapter import load_base_model, pick_hardware
from lorapipe.training.data import (
    PaddingCollator,
    encode_examples,
    load_examples,
    split_by_conversation,
)
from lorapipe.training.end_of_turn import end_of_turn, share
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
from lorapipe.training.store_sync import upload_artifacts

EVALUATION_VERSION = 1
BATCH_TOKENS = 8192
"""Tokens (rows x longest row) one loss forward pass takes."""
MIN_CATEGORY_EXAMPLES = 1


@dataclass(frozen=True)
class Losses:
    """Summed trained-token loss and trained-token count, per example, for one model."""

    sums: list[float]
    tokens: list[int]

    def mean(self, rows: Iterable[int] | None = None) -> float | None:
        pick = range(len(self.sums)) if rows is None else list(rows)
        count = sum(self.tokens[i] for i in pick)
        return sum(self.sums[i] for i in pick) / count if count else None


def evaluate(
    spec: TrainingJobSpec,
    out_dir: Path,
    events: EventWriter,
    *,
    cancel: CancelFlag | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Evaluate ``spec.evaluation``'s adapter into ``out_dir``; returns the summary the result event
    carries. Raises a :class:`LorapipeError` or :class:`Cancelled`."""
    assert spec.evaluation is not None, "an evaluation spec carries `evaluation`"  # the spec's validator
    cancel = cancel or CancelFlag()
    settings = settings or Settings()
    config, ref = spec.config, spec.evaluation
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def stage_done(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.monotonic() - clock, 3)
        clock = time.monotonic()
        if cancel.requested:
            raise Cancelled(checkpoint=None)

    # 1. downloading ----------------------------------------------------------------------------
    events.stage("downloading")
    base_model = public_model(spec)
    adapter_dir, adapter_manifest = fetch_adapter(ref.adapter_uri, out_dir / "work" / "adapter", settings)
    train_file = fetch_data(spec.dataset, out_dir / "work")
    val_file = fetch_data(spec.validation, out_dir / "work", "validation") if spec.validation else None
    resolve_base_model(spec, settings, download_progress(events, cancel, base_model))
    stage_done("downloading")

    # 2. loading_model --------------------------------------------------------------------------
    events.stage("loading_model", message=base_model)
    import transformers
    from peft import PeftModel

    transformers.set_seed(config.seed)
    hw = pick_hardware(config)
    # The adapter folder holds the tokenizer and chat template the adapter was trained with.
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(adapter_dir))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = load_base_model(model_ref(spec), model_settings(spec, settings), config, hw)
    base.config.use_cache = True  # generation below; no training here
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    stage_done("loading_model")

    # 3. tokenizing -----------------------------------------------------------------------------
    events.stage("tokenizing")
    examples = _evaluation_examples(spec, ref, train_file, val_file)
    thinking = {"auto": None, "on": True, "off": False}[config.thinking]
    encoded = encode_examples(tokenizer, examples, config.max_length, thinking)
    if not encoded.features:
        raise DatasetError(
            f"no example to evaluate on ({encoded.stats()})",
            param="dataset",
            hint="give a file with assistant replies that fit the adapter's max_length",
        )
    by_id = {ex.id: ex for ex in examples}
    used = [by_id[i] for i in encoded.ids]
    stage_done("tokenizing")

    # 4. evaluating -----------------------------------------------------------------------------
    events.stage("evaluating")
    collate = PaddingCollator(tokenizer.pad_token_id)
    with model.disable_adapter():
        base_losses = token_losses(model, collate, encoded.features, cancel)
    adapter_losses = token_losses(model, collate, encoded.features, cancel)
    overall = _compare(base_losses, adapter_losses, range(len(used)))
    events.emit(
        "metrics",
        phase="eval",
        step=0,
        eval_loss=overall["adapter"]["loss"],
        base_eval_loss=overall["base"]["loss"],
    )
    replies = end_of_turn(model, tokenizer, used, ref, thinking, cancel)
    stage_done("evaluating")

    # 5. saving ---------------------------------------------------------------------------------
    events.stage("saving")
    ended = {who: share(r[who]["ended"] for r in replies) if replies else None for who in ("base", "adapter")}
    summary: dict[str, Any] = {
        "examples": len(used),
        "tokens": sum(adapter_losses.tokens),
        "base": {**overall["base"], "ended_share": ended["base"]},
        "adapter": {**overall["adapter"], "ended_share": ended["adapter"]},
        "loss_change": overall["loss_change"],
    }
    report = {
        "version": EVALUATION_VERSION,
        "job_id": spec.job_id,
        "base_model": base_model,
        "adapter": {
            "job_id": adapter_manifest.get("job_id"),
            "manifest_sha256": artifacts.sha256_file(adapter_dir / artifacts.MANIFEST),
        },
        "data": {
            "name": dataset_name(spec.validation if val_file and spec.validation else spec.dataset),
            "held_out": ref.held_out,
            "examples_in": encoded.examples,
            "skipped_too_long": encoded.skipped_too_long,
            "skipped_untrained": encoded.skipped_untrained,
            "truncated_history": encoded.truncated,
        },
        "summary": summary,
        "categories": categories(used, base_losses, adapter_losses),
        "end_of_turn": {"max_new_tokens": ref.max_new_tokens, "replies": replies},
    }
    (out_dir / EVALUATION_REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
    stage_done("saving")
    events.close()
    artifacts.write_manifest(
        out_dir,
        {
            "job_id": spec.job_id,
            "task": "evaluate",
            "base_model": base_model,
            "config": config.model_dump(mode="json"),
            "hardware": {"device": hw.device, "precision": hw.precision, "attention": hw.attention},
            "metrics": summary,
            "timings_s": timings,
            "metadata": dict(spec.metadata),
        },
    )
    if spec.output.upload_uri:
        events.stage("uploading")
        upload_artifacts(out_dir, spec.output.upload_uri, settings)
    shutil.rmtree(out_dir / "work", ignore_errors=True)
    return summary


def fetch_adapter(uri: str, into: Path, settings: Settings) -> tuple[Path, dict[str, Any]]:
    """Copy a finished adapter folder (store URL or local path) into ``into``, checking every file the
    adapter needs against its manifest's sha256; returns the folder and the manifest."""
    from lorapipe.storage import ObjectStore, storage_options_for

    store = ObjectStore(uri, **storage_options_for(uri, settings))
    try:
        raw = store.read_bytes(artifacts.MANIFEST)
        manifest = json.loads(raw)
    except (StorageError, OSError, ValueError) as exc:
        raise StorageError(
            f"no readable adapter manifest at {uri}: {exc}",
            param="evaluation.adapter_uri",
            hint="evaluate a succeeded job's adapter (its folder holds manifest.json)",
        ) from None
    into.mkdir(parents=True, exist_ok=True)
    (into / artifacts.MANIFEST).write_bytes(raw)
    for entry in manifest.get("files", []):
        path = str(entry["path"])
        if "/" in path:  # checkpoints and other folders are not needed to load the adapter
            continue
        target = into / path
        with store.open(path) as src, target.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        if artifacts.sha256_file(target) != entry["sha256"]:
            raise IntegrityError(
                f"adapter file {path} does not match its manifest's sha256", param="evaluation.adapter_uri"
            )
    return into, manifest


def _evaluation_examples(
    spec: TrainingJobSpec, ref: EvaluationRef, train_file: Path, val_file: Path | None
) -> list[Example]:
    """The held-out part the training run validated on (same split, seed and fraction), the validation
    file when there is one, or every example of ``dataset`` when ``held_out`` is off."""
    if val_file is not None:
        return load_examples(val_file, spec.validation.format if spec.validation else None)
    examples = load_examples(train_file, spec.dataset.format)
    if not ref.held_out:
        return examples
    _, held_out = split_by_conversation(examples, spec.config.validation_split, spec.config.seed)
    if not held_out:
        raise DatasetError(
            "the training run held nothing out (validation_split is 0), so there is no held-out data",
            param="dataset",
            hint="give a file to evaluate on",
        )
    return held_out


@torch.no_grad()
def token_losses(
    model: Any, collate: PaddingCollator, features: Sequence[dict[str, list[int]]], cancel: CancelFlag
) -> Losses:
    """Each example's summed loss over its trained tokens, in batches of about ``BATCH_TOKENS``."""
    device = next(model.parameters()).device
    order = sorted(range(len(features)), key=lambda i: -len(features[i]["input_ids"]))
    sums, tokens = [0.0] * len(features), [0] * len(features)
    start = 0
    while start < len(order):
        if cancel.requested:
            raise Cancelled(checkpoint=None)
        width = len(features[order[start]]["input_ids"])
        rows = order[start : start + max(1, BATCH_TOKENS // max(width, 1))]
        batch = collate([features[i] for i in rows])
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits.float()
        labels = batch["labels"].to(device)[:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="none",
        ).view(labels.shape)
        counted = labels != IGNORE_INDEX
        for r, i in enumerate(rows):
            sums[i] = float(losses[r][counted[r]].sum())
            tokens[i] = int(counted[r].sum())
        start += len(rows)
    return Losses(sums, tokens)


def _figures(loss: float | None) -> dict[str, float | None]:
    return {
        "loss": round(loss, 6) if loss is not None else None,
        "perplexity": round(math.exp(min(loss, 50.0)), 4) if loss is not None else None,
    }


def _compare(base: Losses, adapter: Losses, rows: Iterable[int]) -> dict[str, Any]:
    picked = list(rows)
    b, a = base.mean(picked), adapter.mean(picked)
    return {
        "examples": len(picked),
        "tokens": sum(adapter.tokens[i] for i in picked),
        "base": _figures(b),
        "adapter": _figures(a),
        "loss_change": round(a - b, 6) if a is not None and b is not None else None,
    }


def categories(examples: Sequence[Example], base: Losses, adapter: Losses) -> dict[str, list[dict[str, Any]]]:
    """Per scaffolding key (persona, arc, topic, ...) and value: base vs adapter on those examples."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in METADATA_KEYS:
        groups: dict[str, list[int]] = {}
        for i, ex in enumerate(examples):
            value = ex.metadata.get(key)
            if isinstance(value, str | int | bool) and str(value):
                groups.setdefault(str(value), []).append(i)
        if groups:
            out[key] = [
                {"value": value, **_compare(base, adapter, rows)}
                for value, rows in sorted(groups.items())
                if len(rows) >= MIN_CATEGORY_EXAMPLES
            ]
    return out
