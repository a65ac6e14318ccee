"""The caller's in-app notifications as the API shows them: list (with an unread filter and counts),
read one, mark read. Another user's notification is "not found" like a missing one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.db.notifications import Notification
from lorapipe.services import notifications as service
from lorapipe.services.public import rows_with_total, ts


class NotificationPublic(BaseModel):
    id: str
    object: Literal["notification"] = "notification"
    kind: str = Field(description="What happened, e.g. job.succeeded, budget.warning.")
    severity: str
    title: str
    body: str
    job_id: str | None
    data: dict[str, Any]
    read: bool
    read_at: int | None
    created_at: int

    @classmethod
    def from_row(cls, row: Notification) -> NotificationPublic:
        return cls(
            id=row.id,
            kind=row.kind,
            severity=row.severity,
            title=row.title,
            body=row.body,
            job_id=row.job_id,
            data=row.data or {},
            read=row.read_at is not None,
            read_at=ts(row.read_at),
            created_at=ts(row.created_at),
        )


class NotificationPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[NotificationPublic]
    total: int = Field(description="Every matching notification, not just this page.")
    unread_count: int = Field(description="Unread notifications, whatever the filter.")
    has_more: bool
    limit: int
    offset: int


class ReadAll(BaseModel):
    object: Literal["notification.read_all"] = "notification.read_all"
    updated: int = Field(description="Notifications that were unread.")


def list_notifications(
    session: Session, owner_id: str, *, unread: bool = False, limit: int = 20, offset: int = 0
) -> NotificationPage:
    """The owner's notifications, newest first (optionally only the unread ones), with totals."""
    query = service.notifications_query(owner_id, unread_only=unread)
    rows, total = rows_with_total(session, query, limit=limit, offset=offset)
    return NotificationPage(
        data=[NotificationPublic.from_row(r) for r in rows],
        total=total,
        unread_count=service.unread_count(session, owner_id),
        has_more=offset + len(rows) < total,
        limit=limit,
        offset=offset,
    )


def get_notification(session: Session, owner_id: str, notification_id: str) -> NotificationPublic:
    return NotificationPublic.from_row(service.get_notification(session, owner_id, notification_id))


def mark_read(session: Session, owner_id: str, notification_id: str) -> NotificationPublic:
    """Mark one notification read (the first read time is kept); commits."""
    row = service.mark_read(session, owner_id, notification_id)
    session.commit()
    return NotificationPublic.from_row(row)


def mark_all_read(session: Session, owner_id: str) -> ReadAll:
    """Mark every unread notification of the owner read; commits."""
    changed = service.mark_all_read(session, owner_id)
    session.commit()
    return ReadAll(updated=changed)
