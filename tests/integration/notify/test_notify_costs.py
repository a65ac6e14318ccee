"""Costs: booked once per ended attempt from the GPU that ran and its catalogue price, estimate vs
actual kept; the date range includes its end day; per type, per day, CSV; budgets notify at 80 % and
100 % and block new jobs at 100 % unless overridden."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from decimal import Decimal
from pathlib import Path

import pytest
from notify_factories import Api, ended_attempt, finished_job, queued_job
from sqlalchemy import select

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.costs import CostRecord
from lorapipe.db.ids import new_id
from lorapipe.db.notifications import Notification
from lorapipe.errors import BudgetExceededError
from lorapipe.estimate.catalogue import load_catalogue
from lorapipe.services.budgets import (
    check_job_budget,
    check_job_estimate,
    notify_budget_thresholds,
    set_budget,
)
from lorapipe.services.costs import record_pending_costs

pytestmark = pytest.mark.integration

SERVERLESS = {"gpu": "H100-SXM", "execution_ms": 600_000, "delay_ms": 20_000, "cold_start_ms": 12_000}


def _book(api: Api) -> int:
    with session_scope(api.sessions) as s:
        return record_pending_costs(s)


def _line(api: Api, owner: str, usd: float, at: dt.datetime, kind: str = "compute") -> None:
    with session_scope(api.sessions) as s:
        s.add(
            CostRecord(
                id=new_id("cost"),
                owner_id=owner,
                kind=kind,
                seconds=60.0,
                usd=Decimal(str(usd)),
                created_at=at,
            )
        )


def test_attempts_are_priced_from_the_gpu_that_ran_once(api: Api) -> None:
    estimate = {
        "options": [
            {"gpu": "H100-SXM", "tier": "serverless_flex", "usd": {"low": 0.3, "mid": 0.5, "high": 0.9}},
            {"gpu": "L4", "tier": "serverless_flex", "usd": {"low": 0.1, "mid": 0.2, "high": 0.3}},
        ]
    }
    with session_scope(api.sessions) as s:
        remote = finished_job(
            s, api.alice_id, JobStatus.SUCCEEDED, backend="runpod-serverless", estimate=estimate
        )
        ended_attempt(s, remote, billing=SERVERLESS)
        local = finished_job(s, api.alice_id, JobStatus.FAILED)
        ended_attempt(s, local, seconds=42.0)
        unknown = finished_job(s, api.alice_id, JobStatus.FAILED, backend="runpod-pod")
        ended_attempt(s, unknown, seconds=30.0)  # the backend said nothing about its GPU

    assert _book(api) == 3
    assert _book(api) == 0  # idempotent: a second pass (or reconciler) books nothing

    price = load_catalogue().get("H100-SXM").price("serverless_flex")
    assert price is not None
    billed_s = math.ceil(600 + 12 + 5)  # execution + measured cold start + idle timeout
    with api.sessions() as s:
        rows = {r.job_id: r for r in s.scalars(select(CostRecord).where(CostRecord.owner_id == api.alice_id))}
    line = rows[remote.id]
    assert line.gpu_type == "H100-SXM" and line.seconds == billed_s
    assert float(line.usd) == pytest.approx(billed_s * price.usd, rel=1e-6)
    assert line.details is not None
    est = line.details["estimate"]
    assert est["estimated_mid_usd"] == 0.5 and est["actual_usd"] == pytest.approx(float(line.usd))
    assert est["within_range"] is (0.3 <= float(line.usd) <= 0.9)
    assert float(rows[local.id].usd) == 0.0 and rows[local.id].seconds == 42
    gap = rows[unknown.id]
    assert gap.details is not None and gap.details["backend"] == "runpod-pod"
    assert gap.price_source is not None and gap.price_source.startswith("unpriced")


def test_range_includes_the_end_day_filters_and_exports(api: Api) -> None:
    day = dt.date(2026, 10, 14)
    at = lambda d, h: dt.datetime.combine(d, dt.time(h, 59), dt.UTC)  # noqa: E731
    _line(api, api.alice_id, 1.25, at(day, 0))
    _line(api, api.alice_id, 2.5, at(day + dt.timedelta(days=2), 23))  # last minutes of the end day
    _line(api, api.alice_id, 0.5, at(day + dt.timedelta(days=2), 23), kind="storage")
    _line(api, api.alice_id, 9.0, at(day + dt.timedelta(days=3), 0))  # the day after: excluded
    _line(api, api.bob_id, 7.0, at(day, 1))  # another user's
    params = {"start": "2026-10-14", "end": "2026-10-16"}
    c = api.client

    body = c.get("/api/costs", params=params, headers=api.alice).json()
    assert sorted(r["usd"] for r in body["data"]) == [0.5, 1.25, 2.5]
    summary = body["summary"]
    assert summary["total"]["usd"] == 4.25
    assert summary["by_kind"]["compute"]["usd"] == 3.75 and summary["by_kind"]["storage"]["usd"] == 0.5
    assert [(d["day"], d["usd"]) for d in summary["by_day"]] == [
        ("2026-10-14", 1.25),
        ("2026-10-15", 0.0),
        ("2026-10-16", 3.0),
    ]
    only = c.get("/api/costs", params={**params, "kind": "storage"}, headers=api.alice).json()
    assert [r["usd"] for r in only["data"]] == [0.5]
    assert c.get("/api/costs/summary", params=params, headers=api.bob).json()["total"]["usd"] == 7.0

    export = c.get("/api/costs.csv", params=params, headers=api.alice)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["day"], r["kind"], r["usd"]) for r in rows] == [
        ("2026-10-14", "compute", "1.250000"),
        ("2026-10-16", "compute", "2.500000"),
        ("2026-10-16", "storage", "0.500000"),
    ]
    assert (
        c.get(
            "/api/costs", params={"start": "2026-10-16", "end": "2026-10-14"}, headers=api.alice
        ).status_code
        == 400
    )


def test_budget_notifies_at_80_and_100_percent_and_blocks_new_jobs(api: Api) -> None:
    c = api.client
    assert c.put("/api/budget", json={"monthly_usd": 10.0}, headers=api.alice).json()["level"] == "ok"
    now = dt.datetime.now(dt.UTC)
    with session_scope(api.sessions) as s:
        remote = finished_job(s, api.alice_id, JobStatus.SUCCEEDED, backend="runpod-pod")
        # One hour on an H100 SXM secure pod, priced from the catalogue (a few dollars).
        ended_attempt(s, remote, billing={"gpu": "H100-SXM", "runtime_s": 3600.0, "tier": "pod_secure"})
    _book(api)
    spent = c.get("/api/budget", headers=api.alice).json()["spent_usd"]
    assert spent > 0
    # Top up to exactly 85 % of the budget: one warning, no block.
    _line(api, api.alice_id, round(8.5 - spent, 6), now)
    with session_scope(api.sessions) as s:
        notify_budget_thresholds(s, api.alice_id)
        notify_budget_thresholds(s, api.alice_id)  # once only
    kinds = [n["kind"] for n in c.get("/api/notifications", headers=api.alice).json()["data"]]
    assert kinds.count("budget.warning") == 1 and "budget.exceeded" not in kinds

    with session_scope(api.sessions) as s:
        assert check_job_budget(s, api.alice_id, 1.0).level == "notify"  # 95 %: allowed, near the limit
        with pytest.raises(BudgetExceededError, match="blocked"):
            check_job_budget(s, api.alice_id, 2.0)  # would reach 105 %
        assert check_job_budget(s, api.alice_id, 2.0, override=True).level == "override"
        # The job-create path passes the frozen estimate: its upper end decides.
        estimate = {
            "options": [{"gpu": "L4", "tier": "pod_secure", "usd": {"low": 1.0, "mid": 1.5, "high": 2.0}}],
            "recommendation": {"gpu": "L4", "tier": "pod_secure"},
        }
        with pytest.raises(BudgetExceededError):
            check_job_estimate(s, api.alice_id, estimate)
        assert check_job_estimate(s, api.alice_id, None).level == "notify"  # local run: $0 more

    with session_scope(api.sessions) as s:
        job = queued_job(s, api.alice_id)
        ended_attempt(s, job, billing={"runtime_s": 10.0})  # local: $0, so still 85 %
    _line(api, api.alice_id, 2.0, now)
    with session_scope(api.sessions) as s:
        notify_budget_thresholds(s, api.alice_id)
    with api.sessions() as s:
        exceeded = s.scalars(
            select(Notification).where(
                Notification.owner_id == api.alice_id, Notification.kind == "budget.exceeded"
            )
        ).all()
    assert len(exceeded) == 1 and exceeded[0].data is not None and exceeded[0].data["threshold_pct"] == 100
    state = c.get("/api/budget", headers=api.alice).json()
    assert state["new_jobs_blocked"] is True and state["fraction"] >= 1.0

    with session_scope(api.sessions) as s:
        set_budget(s, api.alice_id, None)
        assert check_job_budget(s, api.alice_id, 1000.0).allowed
    assert c.get("/api/budget", headers=api.bob).json()["spent_usd"] == 0.0


def test_job_create_is_refused_at_100_percent_unless_overridden(api: Api) -> None:
    c = api.client
    eq12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
    uploaded = c.post(
        "/v1/files",
        headers=api.alice,
        files={"file": ("eq12.jsonl", eq12.read_bytes())},
        data={"purpose": "fine-tune"},
    ).json()
    body = {"model": "lorapipe/tiny-qwen3", "training_file": uploaded["id"]}
    c.put("/api/budget", json={"monthly_usd": 1.0}, headers=api.alice)
    _line(api, api.alice_id, 1.0, dt.datetime.now(dt.UTC))

    refused = c.post("/v1/fine_tuning/jobs", json=body, headers=api.alice)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert c.get("/v1/fine_tuning/jobs", headers=api.alice).json()["data"] == []

    allowed = c.post("/v1/fine_tuning/jobs", json={**body, "budget_override": True}, headers=api.alice)
    assert allowed.status_code == 200 and allowed.json()["status"] == "queued"
