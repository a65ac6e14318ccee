"""Fair share at the door: a user with every request slot busy gets 429 at once, on the event loop,
while another user's request goes straight through; a key is looked up once however many of its
requests arrive together."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from lorapipe.api.fair_share import FairShareMiddleware

pytestmark = pytest.mark.unit


def test_a_user_over_the_limit_is_refused_and_others_pass() -> None:
    release = asyncio.Event()
    lookups: list[str] = []

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/api/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def resolve(header: str) -> str | None:
        lookups.append(header)
        return {"Bearer mallory": "u-mallory", "Bearer alice": "u-alice"}.get(header)

    app = FairShareMiddleware(slow_app, max_requests_per_user=3, resolve=resolve)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            mallory = {"Authorization": "Bearer mallory"}
            held = [asyncio.create_task(http.get("/api/slow", headers=mallory)) for _ in range(3)]
            await asyncio.sleep(0.1)
            refused = await asyncio.wait_for(http.get("/api/slow", headers=mallory), timeout=2)
            assert refused.status_code == 429 and refused.headers["Retry-After"]
            assert refused.json()["error"]["code"] == "rate_limited"
            alice = await asyncio.wait_for(
                http.get("/api/slow2", headers={"Authorization": "Bearer alice"}), 2
            )
            assert alice.status_code == 200
            unknown = await http.get("/api/x", headers={"Authorization": "Bearer nobody"})
            assert unknown.status_code == 200  # not counted here: the route answers the 401
            release.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200, 200]
            again = await http.get("/api/slow", headers=mallory)  # slots given back when requests end
            assert again.status_code == 200

    asyncio.run(scenario())
    assert lookups.count("Bearer mallory") == 1  # cached, and shared by the three first requests
