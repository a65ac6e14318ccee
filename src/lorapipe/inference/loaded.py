"""The models the inference worker holds: one base model, loaded once, and up to N of its LoRA
adapters, loaded into it by name and dropped least recently used first.

Why one base at a time: a base is the large part (gigabytes on a real model), an adapter the small one
(megabytes), so adapters are hot-swapped on a resident base and a request for another base replaces
it (its adapters go with it).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lorapipe.models.sources import load_model, load_tokenizer
from lorapipe.settings import Settings


@dataclass
class Target:
    """What one request runs on: the model (base or PEFT-wrapped), the tokenizer whose chat template
    renders the prompt, and whether the adapters must be switched off for it."""

    model: Any
    tokenizer: Any
    adapter: str | None


class LoadedModels:
    """The resident base and its adapters (an LRU of at most ``max_adapters``)."""

    def __init__(self, settings: Settings, max_adapters: int, device: str) -> None:
        self.settings, self.max_adapters = settings, max_adapters
        self.device = torch.device(device)
        self.base_ref: str | None = None
        self.model: Any = None
        self.tokenizer: Any = None
        self.adapters: OrderedDict[str, Any] = OrderedDict()  # key -> the adapter's own tokenizer

    def _load_base(self, ref: str) -> None:
        self.model = self.tokenizer = None
        self.adapters.clear()
        model: Any = load_model(ref, self.settings, dtype="auto")
        model.to(self.device).eval()
        self.model, self.tokenizer, self.base_ref = model, load_tokenizer(ref, self.settings), ref

    def _load_adapter(self, key: str, path: Path) -> None:
        from peft import PeftModel
        from transformers import AutoTokenizer

        if not hasattr(self.model, "peft_config"):
            self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=key)
        else:
            self.model.load_adapter(str(path), adapter_name=key)
        self.model.to(self.device).eval()
        # The adapter folder carries the tokenizer and chat template it was trained with.
        self.adapters[key] = AutoTokenizer.from_pretrained(str(path))
        while len(self.adapters) > self.max_adapters:
            oldest, _ = self.adapters.popitem(last=False)
            self.model.delete_adapter(oldest)

    def target(self, base: str, adapter: dict[str, str] | None) -> Target:
        """The model for a request on ``base`` (with ``adapter``: ``{"key", "path"}``), loading
        whatever is not resident yet."""
        if base != self.base_ref or self.model is None:
            self._load_base(base)
        if adapter is None:
            return Target(self.model, self.tokenizer, None)
        key = adapter["key"]
        if key in self.adapters:
            self.adapters.move_to_end(key)
        else:
            self._load_adapter(key, Path(adapter["path"]))
        self.model.set_adapter(key)
        return Target(self.model, self.adapters[key], key)
