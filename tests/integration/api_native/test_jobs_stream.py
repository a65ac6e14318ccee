"""Native job routes: progress from metric points, metrics for charts, cancel, and the server-sent
event stream (persisted per-job seq, resumable with Last-Event-ID, live while the job runs, ending
when it is terminal)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from native_app import Native, add_metrics, finish, start_attempt

from lorapipe.contract.job_states import JobStatus

pytestmark = pytest.mark.integration


def read_stream(
    native: Native, job_id: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every SSE message of one connection, in order: ``{id, event, data}``."""
    messages = []
    with native.client.stream(
        "GET",
        f"/api/jobs/{job_id}/stream",
        headers={**native.auth("alice"), **(headers or {})},
        params=params,
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        block: dict[str, Any] = {}
        for line in r.iter_lines():
            if not line:
                if "data" in block:
                    messages.append(block)
                block = {}
            elif not line.startswith((":", "retry:")):
                key, _, value = line.partition(": ")
                block[key] = json.loads(value) if key == "data" else value
    return messages


def test_progress_and_metrics(native: Native) -> None:
    job_id = native.job("alice")
    attempt = start_attempt(native.sessions, job_id)
    add_metrics(native.sessions, job_id, attempt, 1, loss=2.5, eta_s=70.0, elapsed_s=10.0, epoch=0.1)
    add_metrics(native.sessions, job_id, attempt, 2, loss=2.1, eta_s=60.0)
    add_metrics(native.sessions, job_id, attempt, 2, eval_loss=2.3, phase="eval")
    job = native.client.get(f"/api/jobs/{job_id}", headers=native.auth("alice")).json()
    assert job["status"] == "running"
    expected = {"step": 2, "total_steps": 8, "loss": 2.1, "eval_loss": 2.3, "eta_s": 60.0, "elapsed_s": 10.0}
    assert {k: job["progress"][k] for k in expected} == expected
    points = native.client.get(f"/api/jobs/{job_id}/metrics", headers=native.auth("alice")).json()["data"]
    assert [p["step"] for p in points] == [1, 2, 2] and points[0]["loss"] == 2.5
    later = native.client.get(
        f"/api/jobs/{job_id}/metrics", headers=native.auth("alice"), params={"after_step": 1}
    ).json()["data"]
    assert [p["step"] for p in later] == [2, 2]
    listing = native.client.get(
        "/api/jobs", headers=native.auth("alice"), params={"status": "running"}
    ).json()
    assert listing["total"] == 1 and listing["data"][0]["progress"]["step"] == 2


def test_cancel_through_the_native_route(native: Native) -> None:
    job_id = native.job("alice")
    r = native.client.post(f"/api/jobs/{job_id}/cancel", headers=native.auth("alice"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = native.client.post(f"/api/jobs/{job_id}/cancel", headers=native.auth("alice"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state_transition"


def test_stream_of_a_finished_job_replays_everything_then_ends(native_sqlite: Native) -> None:
    native = native_sqlite
    job_id = native.job("alice")
    attempt = start_attempt(native.sessions, job_id)
    for step in (1, 2, 3):
        add_metrics(native.sessions, job_id, attempt, step, loss=3.0 - step / 2)
    finish(native.sessions, job_id)

    messages = read_stream(native, job_id)
    events, end = messages[:-1], messages[-1]
    seqs = [int(m["id"]) for m in events]
    assert (
        seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 7
    )  # queued, provisioning, running, 3 metrics, succeeded
    assert [m["event"] for m in events].count("metrics") == 3
    assert events[-1]["event"] == "status" and events[-1]["data"]["data"]["to"] == "succeeded"
    assert end["event"] == "end" and end["data"] == {"status": "succeeded", "last_seq": 7}

    resumed = read_stream(native, job_id, headers={"Last-Event-ID": "4"})
    assert [int(m["id"]) for m in resumed[:-1]] == [5, 6, 7] and resumed[-1]["event"] == "end"
    by_query = read_stream(native, job_id, after=6)
    assert [int(m["id"]) for m in by_query[:-1]] == [7]
    # The header wins over the query parameter.
    both = read_stream(native, job_id, headers={"Last-Event-ID": "7"}, after=1)
    assert [m["event"] for m in both] == ["end"]


def test_stream_is_live_while_the_job_runs(native_sqlite: Native) -> None:
    native = native_sqlite
    job_id = native.job("alice")
    attempt = start_attempt(native.sessions, job_id)

    def engine() -> None:
        for step in (1, 2):
            time.sleep(0.7)
            add_metrics(native.sessions, job_id, attempt, step, loss=1.0 / step)
        time.sleep(0.7)
        finish(native.sessions, job_id, JobStatus.SUCCEEDED)

    worker = threading.Thread(target=engine)
    started = time.monotonic()
    worker.start()
    messages = read_stream(native, job_id)
    worker.join()
    assert time.monotonic() - started >= 2.0  # it waited for events that did not exist yet
    assert [m["data"]["data"].get("loss") for m in messages if m["event"] == "metrics"] == [1.0, 0.5]
    assert messages[-1] == {"event": "end", "data": {"status": "succeeded", "last_seq": 6}}


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "99999999999999999"])
def test_bad_last_event_id_is_400(native_sqlite: Native, bad: str) -> None:
    job_id = native_sqlite.job("alice")
    r = native_sqlite.client.get(
        f"/api/jobs/{job_id}/stream", headers={**native_sqlite.auth("alice"), "Last-Event-ID": bad}
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "Last-Event-ID"


def test_stream_needs_a_key(native_sqlite: Native) -> None:
    job_id = native_sqlite.job("alice")
    r = native_sqlite.client.get(f"/api/jobs/{job_id}/stream")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
