"""The worker's start-up check: is there a GPU, free scratch disk, and the network volume with the model
cache? Logged as one clear line at start; with ``worker_require_*`` set, a missing piece stops the worker
(a RunPod fitness check) instead of failing every job it takes."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lorapipe.settings import Settings


@dataclass(frozen=True)
class Fitness:
    gpus: list[str]
    free_gb: float
    volume: Path | None  # the mount point holding the model cache, None when it is not mounted

    def line(self, settings: Settings) -> str:
        gpu = f"{len(self.gpus)} GPU(s) ({', '.join(self.gpus)})" if self.gpus else "no GPU visible"
        volume = f"volume {self.volume} mounted" if self.volume else "no network volume mounted"
        return (
            f"lorapipe worker: {gpu}; {self.free_gb:.1f} GB free in {settings.worker_dir}; {volume}; "
            f"model cache {settings.worker_model_cache_dir}"
        )

    def problems(self, settings: Settings) -> list[str]:
        found = []
        if settings.worker_require_gpu and not self.gpus:
            found.append("no GPU is visible (nvidia device files missing): is the endpoint a GPU endpoint?")
        if self.free_gb < settings.worker_min_free_gb:
            found.append(
                f"{self.free_gb:.1f} GB free in {settings.worker_dir}, {settings.worker_min_free_gb:g} GB needed: "
                "raise the endpoint's container disk"
            )
        if settings.worker_require_volume and self.volume is None:
            found.append(
                f"no network volume holds {settings.worker_model_cache_dir}: attach one in the workers' "
                "datacenter (RunPod mounts it at /runpod-volume)"
            )
        return found


def _gpus() -> list[str]:
    # Device files, not nvidia-smi or torch: cheap, and the worker shell never imports the ML stack.
    dev = Path("/dev")
    return sorted(p.name for p in dev.glob("nvidia[0-9]*"))


def _mount_of(path: Path) -> Path | None:
    """The mount point above ``path`` other than ``/`` (a volume), or None."""
    for candidate in [path, *path.parents]:
        if candidate != Path("/") and candidate.exists() and os.path.ismount(candidate):
            return candidate
    return None


def _free_gb(path: Path) -> float:
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
    return shutil.disk_usage(existing).free / 1e9


def check(settings: Settings) -> Fitness:
    return Fitness(
        gpus=_gpus(),
        free_gb=_free_gb(settings.worker_dir),
        volume=_mount_of(settings.worker_model_cache_dir),
    )
