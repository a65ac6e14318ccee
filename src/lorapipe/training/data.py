"""Training data: read, split by conversation, encode with assistant-only labels, order and collate.

Batching is length-grouped with dynamic padding (examples of similar length share a batch, so
little padding is computed), or padding-free packing through transformers'
``DataCollatorWithFlattening`` (sequence boundaries carried by position ids; the attention kernel
handles them, nothing here re-implements var-len attention).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorapipe.contract.conversation import Example
from lorapipe.datasets.split import split_examples
from lorapipe.errors import DatasetError
from lorapipe.models.encoding import IGNORE_INDEX, encode_example

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

Features = dict[str, list[int]]


def _is_canonical(first: Any) -> bool:
    msgs = first.get("messages") if isinstance(first, dict) else None
    return bool(
        "conversation_id" in first
        and isinstance(msgs, list)
        and msgs
        and all(isinstance(m, dict) and "trained" in m for m in msgs)
    )


def load_examples(path: Path, format: str | None = None) -> list[Example]:
    """Examples of a canonical JSONL file (our own output) or of any format the readers support."""
    if format in (None, "canonical"):
        with path.open("r", encoding="utf-8") as fh:
            first_line = next((ln for ln in fh if ln.strip()), "")
        try:
            first = json.loads(first_line) if first_line else None
        except json.JSONDecodeError:
            first = None
        if format == "canonical" or (isinstance(first, dict) and _is_canonical(first)):
            return _read_canonical(path)
    from lorapipe.datasets.readers import iter_examples

    return list(iter_examples(path, format=format))


def _read_canonical(path: Path) -> list[Example]:
    out: list[Example] = []
    with path.open("r", encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(Example.from_dict(json.loads(line), record=len(out), line=n))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DatasetError(
                    f"{path.name} line {n}: not a canonical example ({exc})",
                    param="dataset",
                    hint="validate the dataset first (lorapipe datasets inspect) and use its canonical output",
                ) from None
    return out


def split_by_conversation(
    examples: Sequence[Example], share: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Hold out about ``share`` of the examples, whole conversations at a time (no leakage), with
    :func:`lorapipe.datasets.split.split_examples`: the choice depends only on conversation ids and the
    seed, not on file order."""
    if share <= 0:
        return list(examples), []
    convs = sorted({e.conversation_id for e in examples})
    if len(convs) < 2:
        raise DatasetError(
            "a validation split needs at least 2 conversations; this dataset has 1",
            param="validation_split",
            hint="give a validation file, or set validation_split to 0",
        )
    # At least one conversation is held out, however small the share: a requested eval always happens.
    return split_examples(examples, count=max(1, round(share * len(examples))), seed=seed)


@dataclass
class EncodedSet:
    """Encoded examples with what encoding did to the data (for events and the manifest)."""

    features: list[Features] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    examples: int = 0
    skipped_too_long: int = 0
    skipped_untrained: int = 0
    truncated: int = 0
    tokens: int = 0
    trained_tokens: int = 0

    @property
    def lengths(self) -> list[int]:
        return [len(f["input_ids"]) for f in self.features]

    def stats(self) -> dict[str, Any]:
        return {
            "examples_in": self.examples,
            "examples_used": len(self.features),
            "skipped_too_long": self.skipped_too_long,
            "skipped_untrained": self.skipped_untrained,
            "truncated_history": self.truncated,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "max_length_seen": max(self.lengths, default=0),
        }


def encode_examples(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    max_length: int,
    enable_thinking: bool | None,
) -> EncodedSet:
    """Encode every example; skip (and count) those that cannot fit or have no trained token."""
    out = EncodedSet(examples=len(examples))
    for ex in examples:
        enc = encode_example(tokenizer, ex, max_length, enable_thinking=enable_thinking)
        if not enc.fits:
            out.skipped_too_long += 1
            continue
        if enc.trained_tokens == 0:
            out.skipped_untrained += 1
            continue
        out.truncated += int(enc.truncated)
        out.tokens += enc.length
        out.trained_tokens += enc.trained_tokens
        out.features.append({"input_ids": list(enc.input_ids), "labels": list(enc.labels)})
        out.ids.append(ex.id)
    return out


def sorted_for_eval(encoded: EncodedSet) -> list[Features]:
    """Validation examples longest first: evaluation order does not matter, padding does."""
    return sorted(encoded.features, key=lambda f: -len(f["input_ids"]))


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, *, group: bool = True, megabatch: int = 64
) -> list[list[int]]:
    """Batches of example indices for one epoch, reproducible from ``seed``.

    Indices are shuffled, cut into megabatches of ``megabatch * batch_size``, sorted by length inside
    each (so batch neighbours have similar lengths), cut into batches, and the full batches shuffled.
    The longest batch goes first so an out-of-memory shows at step 1, and the one short batch last.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group:
        size = megabatch * batch_size
        order = [
            i
            for s in range(0, len(order), size)
            for i in sorted(order[s : s + size], key=lambda i: -lengths[i])
        ]
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    rng.shuffle(batches)
    if group and batches:
        longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
        batches.insert(0, batches.pop(longest))
    return batches + tail


def padding_efficiency(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens / computed tokens (batch rows x longest row), 1.0 = no padding."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    return real / padded if padded else 1.0


def collated_efficiency(
    collator: Callable[[list[Features]], dict[str, Any]],
    rows: Sequence[Features],
    batches: Sequence[Sequence[int]],
) -> float:
    """Real tokens / positions the model computes, measured on what ``collator`` makes of ``batches``
    (1.0 = nothing but real tokens): for packing, where the batch layout is the collator's own."""
    real = computed = 0
    for batch in batches:
        if batch:
            real += sum(len(rows[i]["input_ids"]) for i in batch)
            computed += collator([rows[i] for i in batch])["input_ids"].numel()
    return real / computed if computed else 1.0


class EpochBatchOrder:
    """A ``torch`` sampler yielding :func:`length_grouped_batches`, flattened, for the current epoch.

    The Trainer calls ``set_epoch``; the order depends only on (seed, epoch), so a resumed run sees
    exactly the order the interrupted one saw.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, *, group: bool) -> None:
        self.lengths, self.batch_size, self.seed, self.group = list(lengths), batch_size, seed, group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        return length_grouped_batches(self.lengths, self.batch_size, self.seed + self.epoch, group=self.group)

    def __iter__(self) -> Iterator[int]:
        return (i for b in self.batches() for i in b)

    def __len__(self) -> int:
        return len(self.lengths)


class PaddingCollator:
    """Right-pads a batch to its longest row: ids with ``pad_id``, labels with -100, mask with 0."""

    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_id, self.multiple = pad_id, pad_to_multiple_of

    def __call__(self, rows: list[Features]) -> dict[str, torch.Tensor]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[r, :n] = torch.tensor(row["input_ids"])
            labels[r, :n] = torch.tensor(row["labels"])
            mask[r, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def make_collator(packing: bool, pad_id: int, *, flash_attention: bool) -> Any:
    """The training collator: padding-free flattening when packing, else dynamic padding."""
    if not packing:
        return PaddingCollator(pad_id)
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, return_flash_attn_kwargs=flash_attention)
