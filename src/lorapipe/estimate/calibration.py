"""Measured runs: a JSON-lines store and what the estimator learns from it.

Each finished run is one :class:`Measurement` (appended to ``<data_dir>/estimate/measurements.jsonl``).
The estimator learns the *achieved model FLOP/s* per (model, device, method): the one number that
turns FLOPs per token into seconds. Lookup order: the same model on the same device and method; the
same device and method on another model (GPU: its MFU; CPU: its FLOP/s, with a wider range); else
the prior. Fixed seconds (model load, tokenising, saving) are learned per (model, device).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lorapipe.estimate.priors import Triple
from lorapipe.settings import Settings

MEASUREMENTS_FILE = "measurements.jsonl"
EXACT_SPREAD = 0.15  # ±15 % around the measured spread for an exact match
OTHER_MODEL_SPREAD = 0.45  # a different model on the same device: efficiency transfers only roughly


class Measurement(BaseModel):
    """One measured training run, with the estimate made before it (estimate vs actual)."""

    model_config = ConfigDict(extra="ignore")

    model_id: str
    device: str = Field(description="'cpu' or a GPU catalogue id such as 'H100-SXM'.")
    method: str
    gpus: int = 1
    input_tokens: int = Field(ge=0, description="Real (non-padding) tokens through the model, all epochs.")
    train_seconds: float = Field(gt=0, description="Seconds of the training stage (incl. its evals).")
    padding_efficiency: float = Field(default=1.0, gt=0, le=1)
    flops_per_token: float = Field(gt=0, description="Estimator's model FLOPs per real token for this run.")
    eval_flops: float = Field(default=0.0, ge=0, description="Model FLOPs of the evals inside train_seconds.")
    peak_flops: float | None = Field(default=None, description="Device BF16 peak × GPUs; None on CPU.")
    fixed_seconds: float | None = Field(default=None, description="Wall time outside training, seconds.")
    stage_overhead_seconds: float | None = Field(
        default=None,
        description="Training-stage seconds outside optimizer steps: trainer start, evals, checkpoint saves.",
    )
    peak_memory_bytes: int | None = None
    predicted: dict[str, float] = Field(default_factory=dict, description="Estimate made before the run.")
    job_id: str | None = None
    recorded_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def achieved_flops(self) -> float:
        """Model FLOP/s the device sustained, padding included (padding costs compute too)."""
        train = self.input_tokens / self.padding_efficiency * self.flops_per_token
        return (train + self.eval_flops) / self.train_seconds

    @property
    def mfu(self) -> float | None:
        return self.achieved_flops / self.peak_flops if self.peak_flops else None


def measurements_path(settings: Settings) -> Path:
    return settings.data_dir / "estimate" / MEASUREMENTS_FILE


def append_measurement(path: Path, m: Measurement) -> None:
    """Append one measurement as a JSON line (creates the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(m.model_dump_json() + "\n")


def load_measurements(path: Path) -> list[Measurement]:
    """Every readable measurement; a torn last line (a crash mid-write) is skipped, not fatal."""
    if not path.exists():
        return []
    out: list[Measurement] = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            try:
                out.append(Measurement.model_validate_json(line))
            except ValueError:
                continue
    return out


def _range(values: list[float], spread: float) -> Triple:
    return Triple(min(values) * (1 - spread), statistics.median(values), max(values) * (1 + spread))


def learned_achieved_flops(
    records: Iterable[Measurement], model_id: str, device: str, method: str, peak_flops: float | None
) -> tuple[Triple, str] | None:
    """Achieved FLOP/s per GPU for (model, device, method) and a label of its basis, or None."""
    same = [r for r in records if r.device == device and r.method == method]
    exact = [r.achieved_flops / r.gpus for r in same if r.model_id == model_id]
    if exact:
        return _range(exact, EXACT_SPREAD), f"measured: {len(exact)} run(s) of {model_id} on {device}"
    if not same:
        return None
    if peak_flops:
        mfus = [m for r in same if (m := r.mfu) is not None]
        if mfus:
            return (
                _range(mfus, OTHER_MODEL_SPREAD).scale(peak_flops),
                f"MFU measured on other models ({len(mfus)} run(s) on {device})",
            )
        return None
    other = [r.achieved_flops / r.gpus for r in same]
    return _range(other, OTHER_MODEL_SPREAD), f"FLOP/s measured on other models ({len(other)} run(s))"


def learned_fixed_seconds(records: Iterable[Measurement], model_id: str, device: str) -> Triple | None:
    """Seconds outside training measured for this model on this device, or None."""
    values = [r.fixed_seconds for r in records if r.model_id == model_id and r.device == device]
    found = [v for v in values if v is not None]
    return _range(found, EXACT_SPREAD) if found else None


def measured_vram_ratio(
    records: Iterable[Measurement], model_id: str, method: str
) -> tuple[float, int] | None:
    """Median of measured GPU peak ÷ the VRAM estimate made before the run, for this model and method,
    and the number of runs; None without GPU runs that carry both. (CPU runs report RSS: skipped.)"""
    ratios = [
        r.peak_memory_bytes / r.predicted["vram_bytes"]
        for r in records
        if r.model_id == model_id
        and r.method == method
        and r.device != "cpu"
        and r.peak_memory_bytes
        and r.predicted.get("vram_bytes")
    ]
    return (statistics.median(ratios), len(ratios)) if ratios else None


def learned_stage_overhead(records: Iterable[Measurement], model_id: str, device: str) -> Triple | None:
    """Trainer start + evals + checkpoint saves measured for this model on this device, or None."""
    values = [r.stage_overhead_seconds for r in records if r.model_id == model_id and r.device == device]
    found = [v for v in values if v is not None]
    return _range(found, EXACT_SPREAD) if found else None


def step_seconds_from_events(events: Iterable[Mapping[str, Any]]) -> tuple[float, int] | None:
    """Seconds the optimizer steps alone took, from the engine's ``metrics.jsonl``, and the steps.

    Train-metric events carry ``step`` and ``elapsed_s``; an interval between two of them that also
    holds an eval or a checkpoint is left out, and so is the first (trainer start). The clean
    intervals' seconds per step, times all steps, is the step time. None without clean intervals."""
    clean_s = 0.0
    clean_steps = 0
    last: tuple[int, float] | None = None
    dirty = False
    total = 0
    for e in events:
        kind = e.get("type")
        if kind == "checkpoint" or (kind == "metrics" and e.get("phase") == "eval"):
            dirty = True
        elif kind == "metrics" and e.get("phase") == "train":
            step, elapsed = int(e["step"]), float(e["elapsed_s"])
            if last is not None and not dirty and step > last[0] and elapsed >= last[1]:
                clean_s += elapsed - last[1]
                clean_steps += step - last[0]
            last, dirty, total = (step, elapsed), False, max(total, step)
    if clean_steps == 0:
        return None
    return clean_s / clean_steps * total, total


def measurement_from_manifest(
    manifest: Mapping[str, Any],
    *,
    device: str,
    flops_per_token: float,
    eval_flops_per_token: float = 0.0,
    peak_flops: float | None = None,
    wall_seconds: float | None = None,
    predicted: Mapping[str, float] | None = None,
    events: Iterable[Mapping[str, Any]] | None = None,
) -> Measurement:
    """A measurement from the engine's ``manifest.json`` (``timings_s``, ``dataset``, ``metrics``).

    Input tokens = the training split's tokens × epochs run; evals = validation tokens × evals run ×
    ``eval_flops_per_token`` (2·N, forward only). With the run's ``events`` (``metrics.jsonl``) the
    optimizer steps are timed apart from the trainer start, evals and checkpoint saves, which become
    ``stage_overhead_seconds``. ``wall_seconds`` (the whole process, measured by the caller) gives
    the fixed seconds, else the other stages' timings do.
    """
    timings = manifest["timings_s"]
    metrics = manifest.get("metrics", {})
    train = manifest["dataset"]["train"]
    epochs = float(metrics.get("epochs") or manifest["config"]["epochs"])
    train_s = float(timings["training"])
    fixed = (
        (wall_seconds - train_s)
        if wall_seconds is not None
        else sum(float(v) for k, v in timings.items() if k != "training")
    )
    n_evals = len(metrics.get("evals") or [])
    val_tokens = int((manifest["dataset"].get("validation") or {}).get("tokens") or 0)
    eval_flops = val_tokens * n_evals * eval_flops_per_token
    stage_overhead = None
    steps = step_seconds_from_events(events) if events is not None else None
    if steps is not None and 0 < steps[0] <= train_s:
        stage_overhead, train_s, eval_flops = train_s - steps[0], steps[0], 0.0
    return Measurement(
        model_id=str(manifest["base_model"]),
        device=device,
        method=str(manifest["config"]["method"]),
        input_tokens=round(int(train["tokens"]) * epochs),
        train_seconds=train_s,
        padding_efficiency=float(manifest["dataset"].get("padding_efficiency") or 1.0),
        flops_per_token=flops_per_token,
        eval_flops=eval_flops,
        peak_flops=peak_flops,
        fixed_seconds=fixed,
        stage_overhead_seconds=stage_overhead,
        peak_memory_bytes=metrics.get("peak_memory_bytes"),
        predicted=dict(predicted or {}),
        job_id=manifest.get("job_id"),
    )
