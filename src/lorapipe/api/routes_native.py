"""The native ``/api`` router: datasets, jobs (with the event stream), adapters, catalogue, stats, keys.

Other native areas (notifications, webhooks, costs) add their own routers beside this one.
"""

from __future__ import annotations

from fastapi import APIRouter

from lorapipe.api import (
    routes_native_adapters,
    routes_native_catalog,
    routes_native_datasets,
    routes_native_estimates,
    routes_native_jobs,
    routes_native_keys,
    routes_native_stats,
)

router = APIRouter(prefix="/api")
for module in (
    routes_native_datasets,
    routes_native_jobs,
    routes_native_adapters,
    routes_native_catalog,
    routes_native_estimates,
    routes_native_stats,
    routes_native_keys,
):
    router.include_router(module.router)
