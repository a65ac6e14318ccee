"""The GPU catalogue: memory, BF16 peak, bandwidth and RunPod prices, each price with its source and date.

The numbers live in ``data/gpus.json`` (a data file, not constants in code); :func:`load_catalogue`
reads and validates it. Live pod prices replace catalogue ones through
:func:`lorapipe.estimate.runpod_prices.refresh_catalogue`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lorapipe.errors import ConfigError

PriceKind = Literal["serverless_flex", "serverless_active", "pod_secure", "pod_community"]
PRICE_KINDS: tuple[PriceKind, ...] = ("serverless_flex", "serverless_active", "pod_secure", "pod_community")


class Price(BaseModel):
    """One price in US dollars, where it came from and when it was read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float = Field(gt=0, description="Price in USD (per second for serverless, per hour for pods).")
    source: str = Field(
        min_length=1, description="Key into the catalogue's ``sources`` or a free-text origin."
    )
    date: dt.date = Field(description="When the price was read or published.")


class GpuSpec(BaseModel):
    """One GPU type as the estimator sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="Our id, e.g. 'H100-SXM'.")
    name: str
    runpod_gpu_type_id: str | None = Field(description="RunPod's gpuTypeId, e.g. 'NVIDIA H100 80GB HBM3'.")
    aliases: tuple[str, ...] = ()
    memory_gib: float = Field(gt=0, description="Device memory, GiB.")
    bf16_dense_tflops: float = Field(gt=0, description="Dense BF16 tensor peak, TFLOP/s.")
    memory_bandwidth_gbs: float = Field(gt=0, description="Memory bandwidth, GB/s (1e9 bytes).")
    specs_source: str
    specs_date: dt.date
    serverless_class: str | None = None
    serverless_flex_usd_per_s: Price | None = None
    serverless_active_usd_per_s: Price | None = None
    pod_secure_usd_per_h: Price | None = None
    pod_community_usd_per_h: Price | None = None

    def price(self, kind: PriceKind) -> Price | None:
        """The price of one backend/tier, or None when no source gave one."""
        return {
            "serverless_flex": self.serverless_flex_usd_per_s,
            "serverless_active": self.serverless_active_usd_per_s,
            "pod_secure": self.pod_secure_usd_per_h,
            "pod_community": self.pod_community_usd_per_h,
        }[kind]

    def usd_per_second(self, kind: PriceKind) -> float | None:
        """The price of one backend/tier in USD per GPU-second (pods are quoted per hour)."""
        p = self.price(kind)
        if p is None:
            return None
        return p.usd / 3600.0 if kind.startswith("pod_") else p.usd


class GpuCatalogue(BaseModel):
    """All GPU types with the date of the catalogue and the full text of each source key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalogue_date: dt.date
    notes: tuple[str, ...] = ()
    sources: dict[str, str] = Field(default_factory=dict)
    gpus: tuple[GpuSpec, ...]
    live_prices_at: dt.datetime | None = Field(
        default=None, description="Set when pod prices were refreshed from RunPod's API."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> GpuCatalogue:
        seen: set[str] = set()
        for g in self.gpus:
            for key in {n.lower() for n in (g.id, *g.aliases)}:
                if key in seen:
                    raise ValueError(f"GPU id or alias {key!r} names two GPUs in the catalogue")
                seen.add(key)
        return self

    def get(self, name: str) -> GpuSpec:
        """A GPU by id, alias or RunPod gpuTypeId (case-insensitive)."""
        key = name.strip().lower()
        for g in self.gpus:
            if key in {g.id.lower(), *(a.lower() for a in g.aliases)} or (
                g.runpod_gpu_type_id and key == g.runpod_gpu_type_id.lower()
            ):
                return g
        raise ConfigError(
            f"gpu={name!r}: not in the GPU catalogue",
            param="gpu",
            hint=f"use one of {', '.join(g.id for g in self.gpus)}",
        )

    def source_text(self, price: Price) -> str:
        """The full text of a price's source key (the key itself when it is free text)."""
        return self.sources.get(price.source, price.source)

    @property
    def prices_as_of(self) -> str:
        """What the user sees next to every price: live time or the catalogue's date."""
        if self.live_prices_at is not None:
            return f"pod prices live from RunPod at {self.live_prices_at:%Y-%m-%d %H:%M} UTC"
        return f"catalogue prices as of {self.catalogue_date.isoformat()} (not live)"


@functools.cache
def load_catalogue() -> GpuCatalogue:
    """The packaged catalogue (``estimate/data/gpus.json``), validated; cached per process."""
    text = resources.files("lorapipe.estimate").joinpath("data", "gpus.json").read_text("utf-8")
    return GpuCatalogue.model_validate(json.loads(text))
