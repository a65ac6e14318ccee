"""Webhooks: registration (the signing secret is shown once), the Standard Webhooks signature, the
queue of deliveries and their log. Sending is :mod:`lorapipe.services.webhook_delivery`.

Signature (https://www.standardwebhooks.com): the secret is ``whsec_`` + base64 of random bytes;
each request carries ``webhook-id`` (the delivery id, stable across retries so the receiver can
deduplicate), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` =
``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any, Literal, get_args

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from lorapipe.db.base import utcnow
from lorapipe.db.ids import new_id
from lorapipe.db.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from lorapipe.errors import NotFoundError, UserError
from lorapipe.jobs.store import Page
from lorapipe.services.webhook_targets import check_target

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
MAX_WEBHOOKS_PER_USER = 20

#: What a webhook can subscribe to: the notification kinds (``*`` = all of them).
#: What a webhook can subscribe to (``*`` = everything); the API's request model uses the same type.
WebhookEvent = Literal[
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
EVENT_TYPES: tuple[str, ...] = tuple(e for e in get_args(WebhookEvent) if e != "*")


def new_secret() -> str:
    """A fresh signing secret, ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_...`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body`` sent as ``msg_id`` at ``timestamp`` (s)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _check_events(event_types: list[str]) -> list[str]:
    if not event_types:
        raise UserError("subscribe to at least one event type (or '*')", param="events")
    unknown = sorted(set(event_types) - {*EVENT_TYPES, "*"})
    if unknown:
        raise UserError(
            f"unknown event type(s) {', '.join(unknown)}",
            param="events",
            hint=f"choose from: *, {', '.join(EVENT_TYPES)}",
        )
    return sorted(set(event_types))


def register(
    session: Session, owner_id: str, url: str, event_types: list[str], *, allow_private: bool = False
) -> tuple[Webhook, str]:
    """A new webhook and its secret (returned here, and readable later only for signing); the caller
    commits. The URL must reach public addresses only (:func:`check_target`; ``allow_private`` is
    ``LORAPIPE_WEBHOOK_ALLOW_PRIVATE_TARGETS``); delivery checks it again on every try."""
    events = _check_events(event_types)
    url = check_target(url, allow_private=allow_private).url
    active = session.scalars(
        select(Webhook.id).where(Webhook.owner_id == owner_id, Webhook.disabled_at.is_(None))
    ).all()
    if len(active) >= MAX_WEBHOOKS_PER_USER:
        raise UserError(f"at most {MAX_WEBHOOKS_PER_USER} webhooks per user; delete one first", param="url")
    secret = new_secret()
    row = Webhook(id=new_id("webhook"), owner_id=owner_id, url=url, secret=secret, event_types=events)
    session.add(row)
    session.flush()
    return row, secret


def get_webhook(session: Session, owner_id: str, webhook_id: str) -> Webhook:
    """The caller's live webhook; another user's (or a deleted one) is "not found"."""
    row = session.get(Webhook, webhook_id)
    if row is None or row.owner_id != owner_id or row.disabled_at is not None:
        raise NotFoundError(f"no webhook with id {webhook_id!r}", param="webhook_id")
    return row


def list_webhooks(session: Session, owner_id: str) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook)
            .where(Webhook.owner_id == owner_id, Webhook.disabled_at.is_(None))
            .order_by(Webhook.created_at.desc(), Webhook.id.desc())
        )
    )


def delete_webhook(session: Session, owner_id: str, webhook_id: str) -> Webhook:
    """Stop sending to the webhook; pending deliveries are abandoned. The log stays for audit."""
    row = get_webhook(session, owner_id, webhook_id)
    row.disabled_at = utcnow()
    return row


def enqueue_deliveries(session: Session, owner_id: str, event_type: str, payload: dict[str, Any]) -> int:
    """Queue ``payload`` for every live webhook of the owner subscribed to ``event_type``."""
    hooks = session.scalars(
        select(Webhook).where(Webhook.owner_id == owner_id, Webhook.disabled_at.is_(None))
    ).all()
    now = utcnow()
    queued = 0
    for hook in hooks:
        if "*" in hook.event_types or event_type in hook.event_types:
            session.add(
                WebhookDelivery(
                    id=new_id("delivery"),
                    webhook_id=hook.id,
                    event_type=event_type,
                    payload=payload,
                    status="pending",
                    next_attempt_at=now,
                )
            )
            queued += 1
    session.flush()
    return queued


def list_deliveries(
    session: Session, owner_id: str, webhook_id: str, *, after: str | None = None, limit: int = 20
) -> Page[WebhookDelivery]:
    """The webhook's delivery log, newest first (``after``: last delivery id of the previous page)."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.owner_id != owner_id:
        raise NotFoundError(f"no webhook with id {webhook_id!r}", param="webhook_id")
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if after:
        anchor = session.get(WebhookDelivery, after)
        if anchor is None or anchor.webhook_id != webhook_id:
            raise NotFoundError(f"no delivery with id {after!r}", param="after")
        query = query.where(
            or_(
                WebhookDelivery.created_at < anchor.created_at,
                and_(WebhookDelivery.created_at == anchor.created_at, WebhookDelivery.id < anchor.id),
            )
        )
    limit = max(1, min(limit, 100))
    order = (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    return Page(items=rows[:limit], has_more=len(rows) > limit)


def attempts_of(session: Session, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    """The tries of each delivery, in order."""
    out: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        rows = session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        )
        for row in rows:
            out[row.delivery_id].append(row)
    return out


def queue_test(session: Session, hook: Webhook) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this webhook only (to check the receiver and its
    signature check); the caller commits."""
    now = utcnow()
    delivery = WebhookDelivery(
        id=new_id("delivery"),
        webhook_id=hook.id,
        event_type="webhook.test",
        payload={
            "type": "webhook.test",
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"webhook_id": hook.id, "message": "test event from lorapipe"},
        },
        status="pending",
        next_attempt_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery
