"""``/api/webhooks``: register a URL for events (the signing secret is in the create response only),
list, delete, send a test event, and read the delivery log with every try."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller
from lorapipe.api.shapes import ts
from lorapipe.db.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from lorapipe.services import webhooks as service

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

EventType = Literal[
    "*",
    "job.succeeded",
    "job.failed",
    "job.cancelled",
    "dataset.ready",
    "dataset.error",
    "budget.warning",
    "budget.exceeded",
    "webhook.test",
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL that receives POSTs.")
    events: list[EventType] = Field(min_length=1, max_length=20, description="Event types, or '*'.")


def webhook_object(row: Webhook) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "webhook",
        "url": row.url,
        "events": row.event_types,
        "created_at": ts(row.created_at),
    }


def attempt_object(row: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempt": row.number,
        "status_code": row.status_code,
        "latency_ms": row.latency_ms,
        "error": row.error,
        "created_at": ts(row.created_at),
    }


def delivery_object(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "webhook.delivery",
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": ts(row.next_attempt_at) if row.status == "pending" else None,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": ts(row.created_at),
        "delivered_at": ts(row.delivered_at),
        "payload": row.payload,
        "tries": [attempt_object(a) for a in attempts],
    }


@router.post("", status_code=201, summary="Register a webhook; the response shows its secret once")
def create_webhook(db: DB, user: Caller, body: WebhookCreate) -> dict[str, Any]:
    row, secret = service.register(db, user.id, body.url, list(body.events))
    db.commit()
    return {**webhook_object(row), "secret": secret}


@router.get("", summary="Your webhooks (secrets are not shown)")
def list_webhooks(db: DB, user: Caller) -> dict[str, Any]:
    rows = service.list_webhooks(db, user.id)
    return {"object": "list", "data": [webhook_object(r) for r in rows], "total": len(rows)}


@router.get("/{webhook_id}", summary="One webhook")
def get_webhook(db: DB, user: Caller, webhook_id: str) -> dict[str, Any]:
    return webhook_object(service.get_webhook(db, user.id, webhook_id))


@router.delete("/{webhook_id}", summary="Delete a webhook; nothing more is sent to it")
def delete_webhook(db: DB, user: Caller, webhook_id: str) -> dict[str, Any]:
    row = service.delete_webhook(db, user.id, webhook_id)
    db.commit()
    return {"id": row.id, "object": "webhook", "deleted": True}


@router.post("/{webhook_id}/test", status_code=202, summary="Queue a signed webhook.test event")
def test_webhook(db: DB, user: Caller, webhook_id: str) -> dict[str, Any]:
    delivery = service.queue_test(db, service.get_webhook(db, user.id, webhook_id))
    db.commit()
    return delivery_object(delivery, [])


@router.get("/{webhook_id}/deliveries", summary="The delivery log, newest first (cursor: after)")
def list_deliveries(
    db: DB,
    user: Caller,
    webhook_id: str,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    page = service.list_deliveries(db, user.id, webhook_id, after=after, limit=limit)
    tries = service.attempts_of(db, [d.id for d in page.items])
    return {
        "object": "list",
        "data": [delivery_object(d, tries[d.id]) for d in page.items],
        "has_more": page.has_more,
    }
