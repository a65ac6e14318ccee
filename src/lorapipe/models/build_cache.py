"""Build a cached folder once, atomically, so concurrent processes never see a half-written one; save
tokenizers into such folders so they load fast."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Return ``target``, first filling it with ``build(tmp)`` and renaming ``tmp`` into place if missing.

    ``build`` writes into an empty scratch folder next to ``target``; the rename is atomic on one
    filesystem, and when another process won the race its folder is kept and ours is discarded.
    Version the folder name when what ``build`` writes changes, so stale caches are not reused.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        build(scratch)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, out: Path) -> None:
    """``tokenizer.save_pretrained(out)``, plus its added tokens in ``tokenizer_config.json``.

    Why: transformers leaves ``added_tokens_decoder`` out of the config of a ``tokenizers``-backed
    tokenizer, and without it ``from_pretrained`` reads the added tokens by parsing all of
    ``tokenizer.json`` in Python (about a second for the 18 MB Qwen vocabulary) on every load. With
    it the same tokens come from the config and only the Rust loader reads ``tokenizer.json``. Written
    only when the folder has no legacy ``special_tokens_map.json``/``added_tokens.json``, which the
    Python path would also read. Folders without it (older caches) load as before, more slowly.
    """
    tokenizer.save_pretrained(out)
    if (out / "special_tokens_map.json").exists() or (out / "added_tokens.json").exists():
        return
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {
        str(index): token.__getstate__() for index, token in tokenizer.added_tokens_decoder.items()
    }
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
