"""Native estimate routes: VRAM, time and cost per GPU type and backend, before a job exists.

``POST /api/estimates`` takes the estimator's own request; ``POST /api/datasets/{id}/estimate`` fills
the token counts from the dataset's report and the run shape from a preset, so a user can compare
GPUs for *this* dataset in one call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller, State
from lorapipe.contract.config import PRESET_NAMES, parse_config
from lorapipe.datasets.report import DatasetReport
from lorapipe.errors import ConflictError
from lorapipe.estimate.request import EstimateRequest, estimate_with_settings
from lorapipe.services import datasets as dataset_service
from lorapipe.services.estimates import estimate_dataset_run

router = APIRouter(tags=["estimates"])


@router.post("/estimates", summary="Estimate VRAM, time and cost of a run on every GPU and backend")
def estimate(state: State, _: Caller, body: EstimateRequest) -> dict[str, Any]:
    return estimate_with_settings(body, state.settings).model_dump(mode="json")


class DatasetEstimateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255, description="Base model id.")
    preset: str = Field(default="balanced", description=f"One of {', '.join(PRESET_NAMES)}.")
    config: dict[str, Any] | None = Field(default=None, description="TrainingConfig fields to override.")
    gpus: list[str] | None = Field(default=None, description="Only these GPU ids (default: all).")
    budget_usd: float | None = Field(default=None, ge=0, description="Monthly budget, USD.")
    spent_usd: float = Field(default=0.0, ge=0, description="Already spent this month, USD.")


@router.post(
    "/datasets/{dataset_id}/estimate",
    summary="Estimate a run on this dataset (its counted tokens) with a preset, on every GPU and backend",
)
def estimate_dataset(
    state: State, db: DB, user: Caller, dataset_id: str, body: DatasetEstimateRequest
) -> dict[str, Any]:
    dataset = dataset_service.get_dataset(db, user.id, dataset_id)
    report = DatasetReport.model_validate(dataset.report) if dataset.report else None
    if report is None or report.tokens is None:
        raise ConflictError(
            f"dataset {dataset_id} has no token counts yet",
            param="dataset_id",
            hint=f"count them first: POST /api/datasets/{dataset_id}/tokens",
        )
    training = parse_config({"preset": body.preset, **(body.config or {})})
    estimate = estimate_dataset_run(
        report,
        model=body.model,
        training=training,
        settings=state.settings,
        gpus=body.gpus,
        budget_usd=body.budget_usd,
        spent_usd=body.spent_usd,
    )
    return estimate.model_dump(mode="json")
