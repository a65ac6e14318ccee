"""Live pod prices through the real runpod SDK against a fake RunPod GraphQL API on loopback.

The fake stands in for ``https://api.runpod.io/graphql`` only (the network edge); the SDK, its
query text, its HTTP call and our refresh code run for real.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from lorapipe.estimate.catalogue import load_catalogue
from lorapipe.estimate.runpod_prices import LIVE_SOURCE, catalogue_for, refresh_catalogue
from lorapipe.settings import Settings

pytestmark = pytest.mark.integration
pytest.importorskip("runpod")

LIVE = {
    "NVIDIA H100 80GB HBM3": {"securePrice": 2.99, "communityPrice": 1.99},
    "NVIDIA L40S": {"securePrice": 0.79, "communityPrice": None},  # community not offered right now
    "NVIDIA B200": {"securePrice": 0, "communityPrice": 0},  # sold out: no quote
}


class FakeRunPod(BaseHTTPRequestHandler):
    api_key = "good-key"
    #: The GPU id of every request received, including those refused with 401.
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        gpu_id = re.search(r'id:\s*"([^"]+)"', body["query"]).group(1)
        self.seen.append(gpu_id)  # every request, answered or refused
        if self.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.send_response(401)
            self.end_headers()
            return
        quote = LIVE.get(gpu_id)
        types = [] if quote is None else [{"id": gpu_id, "displayName": gpu_id, "memoryInGb": 80, **quote}]
        payload = json.dumps({"data": {"gpuTypes": types}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_runpod(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRunPod)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The SDK reads its base URL from the environment at call time; only the test sets it.
    monkeypatch.setenv("RUNPOD_API_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    FakeRunPod.seen = []
    yield FakeRunPod.seen
    server.shutdown()
    server.server_close()


def test_live_prices_replace_catalogue_pod_prices(fake_runpod):
    base = load_catalogue()
    result = refresh_catalogue(base, "good-key")
    cat = result.catalogue
    assert "H100-SXM" in result.refreshed and "L40S" in result.refreshed
    h100 = cat.get("H100-SXM")
    assert (h100.pod_secure_usd_per_h.usd, h100.pod_community_usd_per_h.usd) == (2.99, 1.99)
    assert h100.pod_secure_usd_per_h.source == LIVE_SOURCE
    # serverless prices are not in the API: they stay the catalogue's
    assert h100.serverless_flex_usd_per_s == base.get("H100-SXM").serverless_flex_usd_per_s
    # a tier without a live quote keeps the catalogue price and date, never becomes free
    l40s = cat.get("L40S")
    assert l40s.pod_secure_usd_per_h.usd == 0.79
    assert l40s.pod_community_usd_per_h == base.get("L40S").pod_community_usd_per_h
    assert cat.get("B200").pod_community_usd_per_h == base.get("B200").pod_community_usd_per_h
    assert any("B200" in p for p in result.problems)
    assert "live from RunPod" in cat.prices_as_of
    assert "NVIDIA H100 80GB HBM3" in fake_runpod


def test_a_rejected_key_falls_back_to_the_dated_catalogue(fake_runpod):
    base = load_catalogue()
    result = refresh_catalogue(base, "wrong-key")
    assert not result.live and result.catalogue is base
    assert "2026-11-28" in result.catalogue.prices_as_of and "not live" in result.catalogue.prices_as_of
    assert any("rejected the API key" in p for p in result.problems)
    assert len(fake_runpod) == 1  # stopped after the first 401 instead of hammering the API


def test_without_a_key_nothing_is_called(fake_runpod, tmp_path):
    result = catalogue_for(Settings(data_dir=tmp_path, runpod_api_key=None), load_catalogue())
    assert not result.live and fake_runpod == []
    live = catalogue_for(Settings(data_dir=tmp_path, runpod_api_key="good-key"), load_catalogue())
    assert live.live


def test_the_service_catalogue_is_cached_between_requests(fake_runpod, tmp_path):
    from lorapipe.estimate import runpod_prices

    runpod_prices._CACHE.clear()
    settings = Settings(data_dir=tmp_path, runpod_api_key="good-key")
    first = runpod_prices.cached_catalogue(settings)
    calls = len(fake_runpod)
    second = runpod_prices.cached_catalogue(settings)
    assert first is second and calls > 0 and len(fake_runpod) == calls
    assert first.get("H100-SXM").pod_secure_usd_per_h.usd == 2.99
    runpod_prices._CACHE.clear()
