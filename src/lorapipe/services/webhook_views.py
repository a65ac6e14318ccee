"""The caller's webhooks as the API shows them: register (the signing secret is shown once), list,
read, delete, queue a test event, and the delivery log with every try.

The rules (targets, event types, limits, signing) are :mod:`lorapipe.services.webhooks`'.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.db.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from lorapipe.services import webhooks as service
from lorapipe.services.public import Deleted, ts


class WebhookPublic(BaseModel):
    id: str
    object: Literal["webhook"] = "webhook"
    url: str
    events: list[str] = Field(description="Event types it receives ('*': all).")
    created_at: int

    @classmethod
    def from_row(cls, row: Webhook) -> WebhookPublic:
        return cls(id=row.id, url=row.url, events=row.event_types, created_at=ts(row.created_at))


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Signs every delivery; shown in this response only.")


class WebhookList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WebhookPublic]
    total: int


class DeliveryTry(BaseModel):
    attempt: int
    status_code: int | None = Field(description="The receiver's HTTP status; null when none came.")
    latency_ms: float
    error: str | None
    created_at: int

    @classmethod
    def from_row(cls, row: WebhookAttempt) -> DeliveryTry:
        return cls(
            attempt=row.number,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            error=row.error,
            created_at=ts(row.created_at),
        )


class DeliveryPublic(BaseModel):
    id: str
    object: Literal["webhook.delivery"] = "webhook.delivery"
    event_type: str
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: int | None = Field(description="When the next try is due (pending only).")
    last_status_code: int | None
    last_error: str | None
    created_at: int
    delivered_at: int | None
    payload: dict[str, Any]
    tries: list[DeliveryTry]

    @classmethod
    def from_row(cls, row: WebhookDelivery, tries: list[WebhookAttempt]) -> DeliveryPublic:
        return cls(
            id=row.id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=ts(row.next_attempt_at) if row.status == "pending" else None,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=ts(row.created_at),
            delivered_at=ts(row.delivered_at),
            payload=row.payload,
            tries=[DeliveryTry.from_row(t) for t in tries],
        )


class DeliveryPage(BaseModel):
    """Newest first; the next page starts ``after`` the last delivery's id."""

    object: Literal["list"] = "list"
    data: list[DeliveryPublic]
    has_more: bool


def create_webhook(
    session: Session, owner_id: str, url: str, events: list[str], *, allow_private: bool = False
) -> WebhookCreated:
    """Register a webhook (see :func:`~lorapipe.services.webhooks.register`); commits."""
    row, secret = service.register(session, owner_id, url, events, allow_private=allow_private)
    session.commit()
    return WebhookCreated.model_validate({**dict(WebhookPublic.from_row(row)), "secret": secret})


def list_webhooks(session: Session, owner_id: str) -> WebhookList:
    rows = service.list_webhooks(session, owner_id)
    return WebhookList(data=[WebhookPublic.from_row(r) for r in rows], total=len(rows))


def get_webhook(session: Session, owner_id: str, webhook_id: str) -> WebhookPublic:
    return WebhookPublic.from_row(service.get_webhook(session, owner_id, webhook_id))


def delete_webhook(session: Session, owner_id: str, webhook_id: str) -> Deleted:
    """Stop sending to the webhook; commits."""
    row = service.delete_webhook(session, owner_id, webhook_id)
    session.commit()
    return Deleted(id=row.id, object="webhook")


def test_webhook(session: Session, owner_id: str, webhook_id: str) -> DeliveryPublic:
    """Queue a signed ``webhook.test`` event for this webhook only; commits."""
    delivery = service.queue_test(session, service.get_webhook(session, owner_id, webhook_id))
    session.commit()
    return DeliveryPublic.from_row(delivery, [])


def list_deliveries(
    session: Session, owner_id: str, webhook_id: str, *, after: str | None = None, limit: int = 20
) -> DeliveryPage:
    """The webhook's delivery log, newest first, each delivery with its tries."""
    page = service.list_deliveries(session, owner_id, webhook_id, after=after, limit=limit)
    tries = service.attempts_of(session, [d.id for d in page.items])
    return DeliveryPage(
        data=[DeliveryPublic.from_row(d, tries[d.id]) for d in page.items], has_more=page.has_more
    )
