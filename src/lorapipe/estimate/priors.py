"""Prior assumptions of the estimator (``data/priors.json``): efficiency, fixed times, transfer speeds.

Each is a ``(low, mid, high)`` triple so every estimate is a range. Measured runs replace the
efficiency prior (:mod:`lorapipe.estimate.calibration`).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, NamedTuple


class Triple(NamedTuple):
    """A low / most likely / high value."""

    low: float
    mid: float
    high: float

    def scale(self, factor: float) -> Triple:
        return Triple(self.low * factor, self.mid * factor, self.high * factor)

    def __add__(self, other: object) -> Triple:
        if not isinstance(other, Triple):
            return NotImplemented
        return Triple(self.low + other.low, self.mid + other.mid, self.high + other.high)


ZERO = Triple(0.0, 0.0, 0.0)


class Priors:
    """Typed view of ``priors.json``."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.date: str = doc["date"]
        self.source: str = doc["source"]
        self._mfu = {k: Triple(*v) for k, v in doc["mfu"].items() if not k.startswith("_")}
        self.method_speed: dict[str, float] = {
            k: float(v) for k, v in doc["method_speed"].items() if not k.startswith("_")
        }
        self.cpu_achieved_flops = Triple(*doc["cpu_achieved_gflops"]["value"]).scale(1e9)
        self.memory_bandwidth_efficiency = float(doc["memory_bandwidth_efficiency"])
        self.multi_gpu_efficiency = float(doc["multi_gpu_efficiency"])
        self.fixed_seconds = {k: Triple(*v) for k, v in doc["fixed_seconds"].items() if not k.startswith("_")}
        self.transfer_gb_per_s = {
            k: Triple(*v) for k, v in doc["transfer_gb_per_s"].items() if not k.startswith("_")
        }
        self.quantise_params_per_s = Triple(*doc["quantise_params_per_s"])

    @property
    def mfu_table(self) -> dict[str, Triple]:
        return dict(self._mfu)

    def mfu(self, method: str, moe: bool) -> Triple:
        """MFU prior for a method on a dense or MoE model (QLoRA has its own, lower, prior)."""
        base = "qlora" if method == "qlora" else "lora"
        return self._mfu[f"{base}_{'moe' if moe else 'dense'}"]


@functools.cache
def load_priors() -> Priors:
    """The packaged priors, read once per process."""
    text = resources.files("lorapipe.estimate").joinpath("data", "priors.json").read_text("utf-8")
    return Priors(json.loads(text))
