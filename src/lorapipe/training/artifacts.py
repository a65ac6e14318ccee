"""What a finished run leaves in its output folder besides the adapter: samples, model card, manifest.

``manifest.json`` is written last and lists every other top-level file with its size and sha256
(checkpoints and the work folder are not artifacts and are left out).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lorapipe.contract.artifacts import MANIFEST
from lorapipe.contract.conversation import Example

MANIFEST_VERSION = 1
NOT_ARTIFACTS = ("checkpoints", "work")
LIBRARIES = (
    "lorapipe",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "tokenizers",
    "safetensors",
    "bitsandbytes",
)


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def code_version() -> str | None:
    """The git commit of the lorapipe source, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sample_prompts(examples: Sequence[Example], n: int) -> list[tuple[str, list[dict[str, str]], str]]:
    """Up to ``n`` (id, prompt messages, reference reply) from held-out examples: everything before the
    last trained reply is the prompt."""
    out: list[tuple[str, list[dict[str, str]], str]] = []
    if n <= 0:
        return out
    for ex in examples:
        trained = [i for i, m in enumerate(ex.messages) if m.trained]
        if not trained:
            continue
        last = trained[-1]
        prompt = [{"role": m.role, "content": m.content} for m in ex.messages[:last]]
        out.append((ex.id, prompt, ex.messages[last].content))
        if len(out) >= n:
            break
    return out


def write_samples(path: Path, samples: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"version": 1, "samples": samples}, indent=2, ensure_ascii=False), "utf-8")


def write_model_card(
    path: Path,
    *,
    base_model: str,
    dataset_name: str,
    license: str | None,
    summary: dict[str, Any],
    config: dict[str, Any],
    job_id: str,
) -> None:
    """README.md with Hugging Face YAML metadata and a metrics table."""
    meta = {
        "base_model": base_model,
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "tags": ["lora", "peft", "lorapipe", config.get("method", "lora")],
        "license": license or "other",
        "datasets": [dataset_name],
    }
    before, after = summary.get("eval_loss_before"), summary.get("eval_loss_after")
    rows = [
        ("eval loss before training", before),
        ("eval loss after training", after),
        ("eval perplexity before", summary.get("perplexity_before")),
        ("eval perplexity after", summary.get("perplexity_after")),
        ("final train loss", summary.get("train_loss_last")),
        ("optimizer steps", summary.get("steps")),
        ("trained tokens", summary.get("trained_tokens")),
        ("trained tokens / s", summary.get("tokens_per_s")),
    ]
    table = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in rows)
    hp = ", ".join(
        f"{k}={config[k]}"
        for k in (
            "method",
            "rank",
            "alpha",
            "dropout",
            "learning_rate",
            "epochs",
            "max_steps",
            "batch_size",
            "gradient_accumulation_steps",
            "max_length",
            "target_modules",
        )
        if k in config
    )
    text = (
        f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n"
        f"# {job_id}\n\nA LoRA adapter for `{base_model}`, trained by lorapipe on `{dataset_name}` "
        f"(loss on assistant replies only).\n\n"
        f"## Metrics\n\n| metric | value |\n|---|---|\n{table}\n\n"
        f"## Training\n\n{hp}. Preset: `{config.get('preset')}`. The full resolved config, dataset hash "
        f"and library versions are in `manifest.json`; replies of the base model and of the adapter to "
        f"held-out prompts are in `samples.json`.\n\n"
        f"## Use\n\n```python\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n"
        f"base = AutoModelForCausalLM.from_pretrained({base_model!r})\n"
        f"model = PeftModel.from_pretrained(base, 'path/to/this/folder')\n```\n"
    )
    path.write_text(text, "utf-8")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def name_base_model(adapter_config: Path, model_id: str, revision: str | None = None) -> None:
    """Make a saved adapter name its base model by public id (and hub revision). PEFT writes the folder
    the base was loaded from, which exists only on the training machine: the adapter would load nowhere
    else, and the folder is nothing a user should see."""
    config = json.loads(adapter_config.read_text("utf-8"))
    config["base_model_name_or_path"] = model_id
    config["revision"] = revision
    adapter_config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")


def write_manifest(out_dir: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Checksum every top-level artifact and write ``manifest.json``; returns the manifest."""
    files = []
    for p in sorted(out_dir.rglob("*")):
        rel = p.relative_to(out_dir)
        if not p.is_file() or rel.parts[0] in NOT_ARTIFACTS or rel.as_posix() == MANIFEST:
            continue
        files.append({"path": rel.as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)})
    manifest = {
        "version": MANIFEST_VERSION,
        **body,
        "files": files,
        "libraries": library_versions(),
        "code_version": code_version(),
        "python": platform.python_version(),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
    return manifest
