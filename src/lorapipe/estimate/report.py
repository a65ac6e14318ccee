"""The estimate as the API, the CLI and a job record see it: JSON-ready pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lorapipe.estimate.priors import Triple


class Range(BaseModel):
    """A low / most likely / high value; the estimate is never a single point."""

    model_config = ConfigDict(frozen=True)

    low: float
    mid: float
    high: float

    @classmethod
    def of(cls, t: Triple, digits: int = 4) -> Range:
        return cls(low=round(t.low, digits), mid=round(t.mid, digits), high=round(t.high, digits))


Tier = Literal["serverless_flex", "serverless_active", "pod_secure", "pod_community", "local"]


class Option(BaseModel):
    """One way to run the job: a GPU type on a backend tier."""

    gpu: str
    gpu_name: str
    memory_gib: float
    tier: Tier
    fits: bool
    usable: bool = Field(description="Fits, has a price, and no warning rules it out (e.g. the 24 h TTL).")
    hours: Range | None = None
    usd: Range | None = None
    tokens_per_s: Range | None = None
    efficiency_basis: str | None = None
    bound: str | None = None
    price: str | None = Field(default=None, description="Price with unit, source and date.")
    time_parts_s: dict[str, Range] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


class Recommendation(BaseModel):
    gpu: str
    tier: Tier
    reason: str
    execution_timeout_s: int | None = Field(
        default=None,
        description="Serverless only: the policy.executionTimeout to send (1.5 × the high estimate).",
    )


class EstimateReport(BaseModel):
    """Everything the estimator concluded for one job, with the assumptions it rests on."""

    model: str
    method: str
    config: dict[str, Any]
    tokens: dict[str, float]
    vram_gib: dict[str, float]
    lora_params: int
    fits: list[str]
    options: list[Option]
    cheapest: Option | None = None
    fastest: Option | None = None
    recommendation: Recommendation | None = None
    warnings: list[str] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    prices_as_of: str
    budget: dict[str, Any] | None = None
