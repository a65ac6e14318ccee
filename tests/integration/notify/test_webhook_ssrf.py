"""Webhook targets through the real API and delivery loop: non-public targets refused at registration
and again at delivery, the checked address is the one connected to, and every failed try is recorded
with a generic reason and finished (never left pending).

Listeners are real sockets on loopback; the only stand-in is ``socket.getaddrinfo`` where a test needs
a name to resolve somewhere (the DNS edge)."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from notify_factories import Api

from lorapipe.db import session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.webhooks import Webhook
from lorapipe.services import webhooks
from lorapipe.services.outbox_worker import OutboxWorker
from lorapipe.services.webhook_delivery import DeliveryPolicy

pytestmark = pytest.mark.integration

ONE_TRY = DeliveryPolicy(max_attempts=1, timeout_s=1.0)
SELF_HOSTED = DeliveryPolicy(max_attempts=1, timeout_s=1.0, allow_private_targets=True)
REFUSED = "target refused: not a public address"


class Listener:
    """A TCP server on ``host`` that records each request's head and answers 200 (or nothing)."""

    def __init__(self, host: str, port: int = 0, *, answer: bool = True) -> None:
        self.sock = socket.create_server((host, port))
        self.port = self.sock.getsockname()[1]
        self.heads: list[str] = []
        self.answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                self.heads.append(data.partition(b"\r\n\r\n")[0].decode("latin-1"))
                if self.answer:
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                else:
                    while conn.recv(65536):  # hold the request unanswered until the client gives up
                        pass

    def close(self) -> None:
        self.sock.close()


def _resolver(answers: Iterator[str]) -> Any:
    """A ``getaddrinfo`` whose successive lookups of a ``.example`` name get successive answers."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if not str(host).endswith(".example"):
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    return getaddrinfo


def _hook_row(api: Api, url: str) -> str:
    """A webhook stored as it was before targets were checked (an old row): bypasses registration."""
    with session_scope(api.sessions) as s:
        hook = Webhook(id=new_id("webhook"), owner_id=api.alice_id, url=url, secret=webhooks.new_secret())
        hook.event_types = ["*"]
        s.add(hook)
        s.flush()
        webhooks.queue_test(s, hook)
        return hook.id


def _deliver(api: Api, policy: DeliveryPolicy, hook_id: str) -> dict[str, Any]:
    worker = OutboxWorker(api.sessions, delivery=policy)
    try:
        worker.tick()
    finally:
        worker.close()
    log = api.client.get(f"/api/webhooks/{hook_id}/deliveries", headers=api.alice).json()["data"]
    assert len(log) == 1
    entry: dict[str, Any] = log[0]
    return entry


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433:8080/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://localhost:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://2852039166/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[fd00::1]/",
        "http://100.64.0.1/",
    ],
)
def test_registration_refuses_non_public_targets(api: Api, url: str) -> None:
    r = api.client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=api.alice)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "url"
    assert api.client.get("/api/webhooks", headers=api.alice).json()["total"] == 0


def test_registration_refuses_a_name_that_resolves_to_loopback(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(iter(["127.0.0.1"] * 10)))
    url = "http://hooks.attacker.example:8080/x"
    r = api.client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=api.alice)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "url" and "loopback" in r.json()["error"]["message"]


def test_delivery_rechecks_a_name_that_now_resolves_to_loopback(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = Listener("127.0.0.1")
    try:
        # Public when registered; loopback (where the listener is) ever after.
        answers = iter(["93.184.216.34", *["127.0.0.1"] * 10])
        monkeypatch.setattr(socket, "getaddrinfo", _resolver(answers))
        created = api.client.post(
            "/api/webhooks",
            json={"url": f"http://hooks.rebind.example:{listener.port}/x", "events": ["*"]},
            headers=api.alice,
        )
        assert created.status_code == 201, created.text
        hook = created.json()["id"]
        api.client.post(f"/api/webhooks/{hook}/test", headers=api.alice)
        entry = _deliver(api, ONE_TRY, hook)
    finally:
        listener.close()
    assert listener.heads == []
    assert (entry["status"], entry["next_attempt_at"], entry["last_error"]) == ("failed", None, REFUSED)
    assert [(t["status_code"], t["error"]) for t in entry["tries"]] == [(None, REFUSED)]


@pytest.mark.parametrize("allow_private_targets", [True])
def test_delivery_connects_to_the_address_it_checked(
    api: Api, monkeypatch: pytest.MonkeyPatch, allow_private_targets: bool
) -> None:
    checked = Listener("127.0.0.2")
    try:
        other = Listener("127.0.0.1", checked.port)
    except OSError:
        checked.close()
        pytest.skip("the port taken on 127.0.0.2 is busy on 127.0.0.1")
    try:
        # A name whose answers alternate (DNS rebinding): registration sees 127.0.0.1, the delivery's
        # check 127.0.0.2, and a connection that looked the name up again would get 127.0.0.1.
        monkeypatch.setattr(socket, "getaddrinfo", _resolver(itertools.cycle(["127.0.0.1", "127.0.0.2"])))
        created = api.client.post(
            "/api/webhooks",
            json={"url": f"http://hooks.rebind.example:{checked.port}/x", "events": ["*"]},
            headers=api.alice,
        )
        assert created.status_code == 201, created.text
        hook = created.json()["id"]
        api.client.post(f"/api/webhooks/{hook}/test", headers=api.alice)
        entry = _deliver(api, SELF_HOSTED, hook)
    finally:
        checked.close()
        other.close()
    assert (entry["status"], entry["last_status_code"]) == ("succeeded", 200)
    assert other.heads == []
    assert len(checked.heads) == 1
    assert f"host: hooks.rebind.example:{checked.port}" in checked.heads[0].lower()


def test_a_shorthand_target_fails_instead_of_staying_pending(api: Api) -> None:
    listener = Listener("127.0.0.1")
    try:
        hook = _hook_row(api, f"http://0177.0.0.1:{listener.port}/")
        entry = _deliver(api, ONE_TRY, hook)
    finally:
        listener.close()
    assert listener.heads == []
    assert (entry["status"], entry["next_attempt_at"], entry["last_error"]) == ("failed", None, REFUSED)
    assert entry["tries"][0]["latency_ms"] == 0


def test_failed_tries_show_no_connect_internals(api: Api) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    silent = Listener("127.0.0.1", answer=False)
    try:
        refused_hook = _hook_row(api, f"http://127.0.0.1:{closed_port}/x")
        refused = _deliver(api, SELF_HOSTED, refused_hook)
        silent_hook = _hook_row(api, f"http://127.0.0.1:{silent.port}/x")
        timed_out = _deliver(api, SELF_HOSTED, silent_hook)
    finally:
        silent.close()
    assert (refused["status"], refused["tries"][0]["error"]) == ("failed", "connection failed")
    assert (timed_out["status"], timed_out["tries"][0]["error"]) == ("failed", "timeout")
    assert refused["tries"][0]["status_code"] is None and timed_out["tries"][0]["status_code"] is None
