"""Sending queued webhook deliveries: signed POSTs, retried with exponential backoff a bounded number
of times, every try logged (status code, latency, error).

Every try checks the target again (:mod:`lorapipe.services.webhook_targets`: the host may resolve
elsewhere since it was registered) and connects to the address it checked. A refused target ends the
delivery ``failed`` at once. The log says only ``target refused: not a public address``, ``connection
failed``, ``timeout`` or the receiver's HTTP status: no exception text, which would describe the
network behind the server to whoever registered the URL.

A due delivery is first *claimed*: its ``next_attempt_at`` moves a lease into the future with a
compare-and-set (``SKIP LOCKED`` on PostgreSQL), so two workers never send the same try; a worker
that dies mid-send leaves the delivery to be retried when the lease expires. Receivers deduplicate
on ``webhook-id``, which is the delivery id and the same on every try.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db.base import utcnow
from lorapipe.db.engine import session_scope
from lorapipe.db.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from lorapipe.services.webhook_targets import REFUSED, TargetRefusedError, check_target, send_pinned
from lorapipe.services.webhooks import sign

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry schedule and limits. Delay after failed try n (1-based):
    ``min(max_delay_s, first_delay_s * factor**(n-1))`` — by default 5 s, 25 s, 2 min, 10 min,
    52 min, 4.3 h, 6 h, then the delivery is ``failed`` after 8 tries (~11.5 h in all)."""

    max_attempts: int = 8
    first_delay_s: float = 5.0
    factor: float = 5.0
    max_delay_s: float = 6 * 3600.0
    #: Whole request, connect to last byte, in seconds.
    timeout_s: float = 10.0
    #: How long a claimed delivery stays invisible to other workers, in seconds.
    lease_s: float = 120.0
    batch: int = 20
    #: Deliver to loopback and private addresses too (``LORAPIPE_WEBHOOK_ALLOW_PRIVATE_TARGETS``).
    allow_private_targets: bool = False

    def delay_s(self, tries_made: int) -> float:
        return float(min(self.max_delay_s, self.first_delay_s * self.factor ** max(0, tries_made - 1)))


@dataclass(frozen=True)
class TryOutcome:
    status_code: int | None
    latency_ms: float
    error: str | None
    #: No retry can succeed (the target is refused): the delivery ends ``failed`` now.
    final: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(sessions: sessionmaker[Session], policy: DeliveryPolicy, now: dt.datetime) -> list[str]:
    """Ids of due pending deliveries this worker now holds for ``lease_s``."""
    claimed: list[str] = []
    with session_scope(sessions) as s:
        query = (
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(policy.batch)
        )
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        lease_end = now + dt.timedelta(seconds=policy.lease_s)
        for delivery_id, due in s.execute(query).all():
            moved = s.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at == due,
                )
                .values(next_attempt_at=lease_end)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(delivery_id)
    return claimed


def post_signed(
    client: httpx.Client, hook: Webhook, delivery: WebhookDelivery, policy: DeliveryPolicy
) -> TryOutcome:
    """One signed POST to the checked address of ``hook.url``; never raises (every failure becomes
    the outcome's generic error)."""
    try:
        target = check_target(hook.url, allow_private=policy.allow_private_targets)
    except TargetRefusedError:
        return TryOutcome(None, 0.0, REFUSED, final=True)
    except Exception:  # a bug must still end the try (counted), or the delivery is re-claimed forever
        log.exception("webhook delivery %s: unexpected error while checking the target", delivery.id)
        return TryOutcome(None, 0.0, "delivery error")
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "lorapipe-webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(hook.secret, delivery.id, stamp, body),
    }
    started = time.perf_counter()
    try:
        response = send_pinned(client, target, content=body, headers=headers, timeout_s=policy.timeout_s)
    except httpx.TimeoutException:
        return TryOutcome(None, (time.perf_counter() - started) * 1000, "timeout")
    except httpx.HTTPError:
        return TryOutcome(None, (time.perf_counter() - started) * 1000, "connection failed")
    except Exception:
        log.exception("webhook delivery %s: unexpected error while sending", delivery.id)
        return TryOutcome(None, (time.perf_counter() - started) * 1000, "delivery error")
    latency = (time.perf_counter() - started) * 1000
    # The receiver's body is not kept: echoing it in the log would let a user read internal pages.
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return TryOutcome(response.status_code, latency, error)


def deliver_one(
    sessions: sessionmaker[Session], client: httpx.Client, delivery_id: str, policy: DeliveryPolicy
) -> TryOutcome | None:
    """Send one claimed delivery and record the try; None when there was nothing to send."""
    with session_scope(sessions) as s:
        delivery = s.get(WebhookDelivery, delivery_id)
        hook = s.get(Webhook, delivery.webhook_id) if delivery is not None else None
        if delivery is None or hook is None or delivery.status != "pending":
            return None
        if hook.disabled_at is not None:
            delivery.status, delivery.last_error, delivery.next_attempt_at = "failed", "webhook deleted", None
            return None
        s.expunge_all()  # the rows travel to the send below without holding a transaction open
    outcome = post_signed(client, hook, delivery, policy)
    now = utcnow()
    with session_scope(sessions) as s:
        row = s.get(WebhookDelivery, delivery_id)
        if row is None:
            return outcome
        row.attempts += 1
        s.add(
            WebhookAttempt(
                delivery_id=row.id,
                number=row.attempts,
                status_code=outcome.status_code,
                latency_ms=round(outcome.latency_ms, 3),
                error=outcome.error,
                created_at=now,
            )
        )
        row.last_status_code, row.last_error = outcome.status_code, outcome.error
        if outcome.ok:
            row.status, row.delivered_at, row.next_attempt_at = "succeeded", now, None
        elif outcome.final or row.attempts >= policy.max_attempts:
            row.status, row.next_attempt_at = "failed", None
        else:
            row.next_attempt_at = now + dt.timedelta(seconds=policy.delay_s(row.attempts))
    return outcome


def deliver_due(
    sessions: sessionmaker[Session],
    client: httpx.Client,
    policy: DeliveryPolicy | None = None,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Send every due delivery (one batch); returns how many tries were made."""
    policy = policy or DeliveryPolicy()
    tries = 0
    for delivery_id in claim_due(sessions, policy, now or utcnow()):
        try:
            tries += deliver_one(sessions, client, delivery_id, policy) is not None
        except Exception:  # one bad row must not stop the others; its lease expires and it is retried
            log.exception("webhook delivery %s failed", delivery_id)
    return tries
