"""Webhooks end to end: registered through the API, fed by a real job outcome, delivered to a receiver
on 127.0.0.1 that checks the Standard Webhooks signature itself and fails the first calls."""

from __future__ import annotations

import time

import pytest
from notify_factories import Api, Receiver, finished_job

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.services.outbox_worker import OutboxWorker
from lorapipe.services.webhook_delivery import DeliveryPolicy

pytestmark = pytest.mark.integration

# The receiver is on 127.0.0.1: these deliveries are a self-hosted setup's, private targets allowed.
FAST = DeliveryPolicy(
    max_attempts=4, first_delay_s=0.05, factor=2.0, timeout_s=5.0, lease_s=5.0, allow_private_targets=True
)


@pytest.fixture
def allow_private_targets() -> bool:
    return True


def _drain(worker: OutboxWorker, until: float = 10.0) -> None:
    """Tick until nothing is due any more (the receiver's retries included) or ``until`` seconds."""
    deadline = time.monotonic() + until
    idle = 0
    while time.monotonic() < deadline and idle < 5:
        counts = worker.tick()
        idle = 0 if (counts.webhook_tries or counts.notifications) else idle + 1
        time.sleep(0.1)


def _register(api: Api, receiver: Receiver, events: list[str]) -> dict[str, str]:
    created = api.client.post(
        "/api/webhooks", json={"url": receiver.url, "events": events}, headers=api.alice
    )
    assert created.status_code == 201, created.text
    body = created.json()
    receiver.secret = body["secret"]
    return body


def test_signed_delivery_retried_with_backoff_until_it_succeeds(api: Api, receiver: Receiver) -> None:
    receiver.fail_first = 2
    hook = _register(api, receiver, ["job.failed", "job.succeeded"])
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in api.client.get(f"/api/webhooks/{hook['id']}", headers=api.alice).json()
    with session_scope(api.sessions) as s:
        job = finished_job(s, api.alice_id, JobStatus.FAILED)
        finished_job(s, api.alice_id, JobStatus.CANCELLED)  # not subscribed: never sent

    worker = OutboxWorker(api.sessions, delivery=FAST)
    try:
        _drain(worker)
    finally:
        worker.close()

    assert len(receiver.calls) == 3
    assert all(c["signature_ok"] for c in receiver.calls)
    assert len({c["headers"]["webhook-id"] for c in receiver.calls}) == 1  # one message, three tries
    assert receiver.calls[0]["body"]["type"] == "job.failed"
    assert receiver.calls[0]["body"]["data"]["job_id"] == job.id
    assert receiver.calls[0]["body"]["data"]["error"]["code"] == "disk_full"
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # backoff doubles

    log = api.client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=api.alice).json()["data"]
    assert len(log) == 1
    entry = log[0]
    assert (entry["status"], entry["attempts"], entry["last_status_code"]) == ("succeeded", 3, 200)
    assert [t["status_code"] for t in entry["tries"]] == [500, 500, 200]
    assert [t["attempt"] for t in entry["tries"]] == [1, 2, 3]
    assert all(t["latency_ms"] > 0 for t in entry["tries"])
    assert entry["tries"][0]["error"] == "HTTP 500"  # the receiver's body is not echoed


def test_retries_are_bounded(api: Api, receiver: Receiver) -> None:
    receiver.fail_first = 1000
    hook = _register(api, receiver, ["*"])
    assert api.client.post(f"/api/webhooks/{hook['id']}/test", headers=api.alice).status_code == 202
    worker = OutboxWorker(api.sessions, delivery=FAST)
    try:
        _drain(worker)
    finally:
        worker.close()
    assert len(receiver.calls) == FAST.max_attempts
    assert all(c["signature_ok"] and c["body"]["type"] == "webhook.test" for c in receiver.calls)
    entry = api.client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=api.alice).json()["data"][0]
    assert (entry["status"], entry["attempts"], entry["next_attempt_at"]) == ("failed", 4, None)


def test_unreachable_receiver_is_logged_as_an_error(api: Api) -> None:
    # A loopback port nothing listens on (bound, then closed).
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    created = api.client.post(
        "/api/webhooks", json={"url": f"http://127.0.0.1:{port}/x", "events": ["*"]}, headers=api.alice
    ).json()
    api.client.post(f"/api/webhooks/{created['id']}/test", headers=api.alice)
    policy = DeliveryPolicy(max_attempts=1, timeout_s=2.0, allow_private_targets=True)
    worker = OutboxWorker(api.sessions, delivery=policy)
    try:
        worker.tick()
    finally:
        worker.close()
    entry = api.client.get(f"/api/webhooks/{created['id']}/deliveries", headers=api.alice).json()["data"][0]
    assert entry["status"] == "failed"
    assert entry["tries"][0]["status_code"] is None
    assert entry["tries"][0]["error"] == "connection failed"  # no socket error text for the caller


def test_webhook_routes_validate_and_isolate(api: Api, receiver: Receiver) -> None:
    c = api.client
    bad = c.post("/api/webhooks", json={"url": receiver.url, "events": ["job.exploded"]}, headers=api.alice)
    assert bad.status_code == 400
    assert (
        c.post("/api/webhooks", json={"url": "ftp://x/y", "events": ["*"]}, headers=api.alice).status_code
        == 400
    )
    for url in ("http://169.254.169.254/latest/meta-data", "http://[::1", "http:///nohost"):
        refused = c.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=api.alice)
        assert refused.status_code == 400, url
    hook = _register(api, receiver, ["job.succeeded"])
    path = f"/api/webhooks/{hook['id']}"
    for method, url in (
        ("GET", path),
        ("DELETE", path),
        ("POST", f"{path}/test"),
        ("GET", f"{path}/deliveries"),
    ):
        assert c.request(method, url, headers=api.bob).status_code == 404, (method, url)
    assert c.get("/api/webhooks", headers=api.bob).json()["total"] == 0
    assert [h["id"] for h in c.get("/api/webhooks", headers=api.alice).json()["data"]] == [hook["id"]]
    assert c.delete(path, headers=api.alice).json()["deleted"] is True
    assert c.get(path, headers=api.alice).status_code == 404
    assert c.get("/api/webhooks", headers=api.alice).json()["total"] == 0
