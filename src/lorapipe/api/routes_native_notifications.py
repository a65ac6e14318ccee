"""``/api/notifications``: the caller's in-app notifications (list with an unread filter, read one,
read all). Another user's notification is a 404 like a missing one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from lorapipe.api.deps import DB, Caller
from lorapipe.api.shapes import ts
from lorapipe.db.notifications import Notification
from lorapipe.services import notifications as service

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


def notification_object(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "notification",
        "kind": row.kind,
        "severity": row.severity,
        "title": row.title,
        "body": row.body,
        "job_id": row.job_id,
        "data": row.data or {},
        "read": row.read_at is not None,
        "read_at": ts(row.read_at),
        "created_at": ts(row.created_at),
    }


@router.get("", summary="Your notifications, newest first, with totals")
def list_notifications(
    db: DB,
    user: Caller,
    unread: Annotated[bool, Query(description="Only notifications not read yet.")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    query = service.notifications_query(user.id, unread_only=unread)
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.scalars(query.limit(limit).offset(offset)).all()
    return {
        "object": "list",
        "data": [notification_object(r) for r in rows],
        "total": int(total),
        "unread_count": service.unread_count(db, user.id),
        "has_more": offset + len(rows) < total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/{notification_id}", summary="One notification")
def get_notification(db: DB, user: Caller, notification_id: str) -> dict[str, Any]:
    return notification_object(service.get_notification(db, user.id, notification_id))


@router.post("/{notification_id}/read", summary="Mark one notification read")
def read_notification(db: DB, user: Caller, notification_id: str) -> dict[str, Any]:
    row = service.mark_read(db, user.id, notification_id)
    db.commit()
    return notification_object(row)


@router.post("/read-all", summary="Mark all your notifications read")
def read_all(db: DB, user: Caller) -> dict[str, Any]:
    changed = service.mark_all_read(db, user.id)
    db.commit()
    return {"object": "notification.read_all", "updated": changed}
