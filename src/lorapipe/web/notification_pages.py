"""The notifications on every page (the bell's unread count and its panel of the newest ones) and
the full list at ``/ui/notifications``. Marking read is a ``fetch`` to ``/api/notifications``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lorapipe.db.accounts import User
from lorapipe.services import notification_views
from lorapipe.services.context import AppState
from lorapipe.services.notification_views import NotificationPage, NotificationPublic
from lorapipe.web.deps import DB, PageUser
from lorapipe.web.pages import PAGE, render, templates

router = APIRouter(include_in_schema=False)
BELL_ITEMS = 6


def notification_bell(request: Request, user: User) -> NotificationPage:
    """The newest notifications and the unread count, for the bell in the page header."""
    state: AppState = request.app.state.lorapipe
    with state.sessions() as session:
        return notification_views.list_notifications(session, user.id, limit=BELL_ITEMS)


def notification_link(note: NotificationPublic) -> str:
    """The page of the object a notification is about."""
    dataset_id = note.data.get("dataset_id")
    if note.job_id:
        return f"/ui/jobs/{note.job_id}"
    if isinstance(dataset_id, str) and dataset_id:
        return f"/ui/datasets/{dataset_id}"
    if note.kind.startswith("budget."):
        return "/ui/costs"
    if note.kind.startswith("webhook."):
        return "/ui/settings"
    return "/ui/notifications"


templates.env.globals.update(notification_bell=notification_bell, notification_link=notification_link)


@router.get("/ui/notifications", response_class=HTMLResponse)
def notifications(
    request: Request,
    db: DB,
    user: PageUser,
    unread: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    listing = notification_views.list_notifications(
        db, user.id, unread=unread, limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(request, "notifications.html", user, listing=listing, unread=unread, page=page)
