"""``/api/notifications``: the caller's in-app notifications (list with an unread filter, read one,
read all). Another user's notification is a 404 like a missing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lorapipe.api.deps import DB, Caller
from lorapipe.api.params import ResourceId
from lorapipe.services import notification_views as notifications
from lorapipe.services.notification_views import NotificationPage, NotificationPublic, ReadAll

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("", summary="Your notifications, newest first, with totals")
def list_notifications(
    db: DB,
    user: Caller,
    unread: Annotated[bool, Query(description="Only notifications not read yet.")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> NotificationPage:
    return notifications.list_notifications(db, user.id, unread=unread, limit=limit, offset=offset)


@router.get("/{notification_id}", summary="One notification")
def get_notification(db: DB, user: Caller, notification_id: ResourceId) -> NotificationPublic:
    return notifications.get_notification(db, user.id, notification_id)


@router.post("/{notification_id}/read", summary="Mark one notification read")
def read_notification(db: DB, user: Caller, notification_id: ResourceId) -> NotificationPublic:
    return notifications.mark_read(db, user.id, notification_id)


@router.post("/read-all", summary="Mark all your notifications read")
def read_all(db: DB, user: Caller) -> ReadAll:
    return notifications.mark_all_read(db, user.id)
