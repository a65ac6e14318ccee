"""``export merged``: fold a finished adapter into a full-precision copy of its base model.

The base is always loaded unquantised (its checkpoint dtype, or the one asked for): merging LoRA
deltas into a 4-bit base rounds them away (peft#1080, #2321), so a QLoRA adapter is merged into the
bf16/fp32 base too.
"""

from __future__ import annotations

import json
from pathlib import Path

from lorapipe.errors import ConfigError, ObjectNotFoundError
from lorapipe.settings import Settings

DTYPES = ("auto", "float32", "bfloat16", "float16")


def export_merged(
    adapter_dir: Path, out_dir: Path, settings: Settings, *, dtype: str = "auto", base: str | None = None
) -> Path:
    """Write ``base + adapter`` merged into ``out_dir`` (a plain ``from_pretrained`` folder). ``base``:
    the base model to load, when the manifest's public id does not find it here (a local folder's
    manifest names only the folder)."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from lorapipe.models.sources import load_model

    if dtype not in DTYPES:
        raise ConfigError(f"dtype={dtype!r}: unknown", param="dtype", hint=f"use one of {', '.join(DTYPES)}")
    manifest_path = adapter_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ObjectNotFoundError(
            f"{adapter_dir} has no manifest.json",
            param="adapter",
            hint="point at a finished run's output folder",
        )
    manifest = json.loads(manifest_path.read_text("utf-8"))
    # never quantised: see module doc
    base_model = load_model(base or manifest["base_model"], settings, dtype=dtype)
    merged = PeftModel.from_pretrained(base_model, adapter_dir).merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    (out_dir / "lorapipe_merged.json").write_text(
        json.dumps(
            {"base_model": manifest["base_model"], "adapter_job_id": manifest.get("job_id"), "dtype": dtype}
        ),
        "utf-8",
    )
    return out_dir
