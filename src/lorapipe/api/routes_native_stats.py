"""Dashboard totals over all of the caller's datasets, jobs and adapters."""

from __future__ import annotations

from fastapi import APIRouter

from lorapipe.api.deps import DB, Caller
from lorapipe.services.stats import DashboardStats, dashboard_stats

router = APIRouter(tags=["stats"])


@router.get("/stats", summary="Dashboard totals over all of your datasets, jobs and adapters")
def get_stats(db: DB, user: Caller) -> DashboardStats:
    return dashboard_stats(db, user.id)
