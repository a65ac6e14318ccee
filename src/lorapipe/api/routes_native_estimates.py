"""Native estimate routes: VRAM, time and cost per GPU type and backend, before a job exists.

``POST /api/estimates`` takes the estimator's own request; ``POST /api/datasets/{id}/estimate`` fills
the token counts from the dataset's report and the run shape from a preset, so a user can compare
GPUs for *this* dataset in one call.
"""

from __future__ import annotations

from fastapi import APIRouter

from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.params import ResourceId
from lorapipe.estimate.report import EstimateReport
from lorapipe.estimate.request import EstimateRequest, estimate_with_settings
from lorapipe.services.estimates import DatasetEstimateRequest, estimate_stored_dataset

router = APIRouter(tags=["estimates"])


@router.post("/estimates", summary="Estimate VRAM, time and cost of a run on every GPU and backend")
def estimate(state: State, _: Caller, body: EstimateRequest) -> EstimateReport:
    return estimate_with_settings(body, state.settings)


@router.post(
    "/datasets/{dataset_id}/estimate",
    summary="Estimate a run on this dataset (its counted tokens) with a preset, on every GPU and backend",
)
def estimate_dataset(
    state: State, db: DB, user: Caller, dataset_id: ResourceId, body: DatasetEstimateRequest
) -> EstimateReport:
    return estimate_stored_dataset(db, state.settings, user.id, dataset_id, body)
