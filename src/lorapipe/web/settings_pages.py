"""The settings page: the user's API keys (create, shown once; revoke), webhooks (add, test, delivery
log) and monthly budget. The page only reads; every change is a ``fetch`` to ``/api/keys``,
``/api/webhooks`` or ``/api/budget`` with the bearer key (``static/app.js``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from lorapipe.services import cost_views, key_views, webhook_views
from lorapipe.services.webhooks import EVENT_TYPES
from lorapipe.web.deps import DB, PageUser, State
from lorapipe.web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/ui/settings", response_class=HTMLResponse)
def settings(request: Request, state: State, db: DB, user: PageUser) -> HTMLResponse:
    webhooks = webhook_views.list_webhooks(db, user.id).data
    return render(
        request,
        "settings.html",
        user,
        keys=key_views.list_keys(db, user).data,
        webhooks=webhooks,
        deliveries={w.id: webhook_views.list_deliveries(db, user.id, w.id, limit=10).data for w in webhooks},
        events=EVENT_TYPES,
        budget=cost_views.budget_status(db, user.id),
        allow_private=state.settings.webhook_allow_private_targets,
    )
