"""``/api/webhooks``: register a URL for events (the signing secret is in the create response only),
list, delete, send a test event, and read the delivery log with every try."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.params import PRINTABLE, ResourceId
from lorapipe.services import webhook_views as webhooks
from lorapipe.services.public import Deleted
from lorapipe.services.webhook_views import (
    DeliveryPage,
    DeliveryPublic,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
)
from lorapipe.services.webhooks import WebhookEvent

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="http(s) URL that receives POSTs; its host must resolve to public addresses only.",
    )
    events: list[WebhookEvent] = Field(min_length=1, max_length=20, description="Event types, or '*'.")


@router.post("", status_code=201, summary="Register a webhook; the response shows its secret once")
def create_webhook(state: State, db: DB, user: Caller, body: WebhookCreate) -> WebhookCreated:
    allow = state.settings.webhook_allow_private_targets
    return webhooks.create_webhook(db, user.id, body.url, list(body.events), allow_private=allow)


@router.get("", summary="Your webhooks (secrets are not shown)")
def list_webhooks(db: DB, user: Caller) -> WebhookList:
    return webhooks.list_webhooks(db, user.id)


@router.get("/{webhook_id}", summary="One webhook")
def get_webhook(db: DB, user: Caller, webhook_id: ResourceId) -> WebhookPublic:
    return webhooks.get_webhook(db, user.id, webhook_id)


@router.delete("/{webhook_id}", summary="Delete a webhook; nothing more is sent to it")
def delete_webhook(db: DB, user: Caller, webhook_id: ResourceId) -> Deleted:
    return webhooks.delete_webhook(db, user.id, webhook_id)


@router.post("/{webhook_id}/test", status_code=202, summary="Queue a signed webhook.test event")
def test_webhook(db: DB, user: Caller, webhook_id: ResourceId) -> DeliveryPublic:
    return webhooks.test_webhook(db, user.id, webhook_id)


@router.get("/{webhook_id}/deliveries", summary="The delivery log, newest first (cursor: after)")
def list_deliveries(
    db: DB,
    user: Caller,
    webhook_id: ResourceId,
    after: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> DeliveryPage:
    return webhooks.list_deliveries(db, user.id, webhook_id, after=after, limit=limit)
