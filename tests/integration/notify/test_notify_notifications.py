"""Notifications: made once per ended job (with its reason) and validated dataset; listed with an
unread filter and pages; read one / read all; another user's are 404."""

from __future__ import annotations

import pytest
from notify_factories import Api, finished_job, validated_dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.notifications import Notification
from lorapipe.services.notifications import notify, notify_dataset_outcomes, notify_finished_jobs

pytestmark = pytest.mark.integration


def _scan(sessions: sessionmaker[Session]) -> int:
    with session_scope(sessions) as s:
        made = notify_finished_jobs(s)
    with session_scope(sessions) as s:
        return made + notify_dataset_outcomes(s)


def test_each_ended_job_and_dataset_is_notified_once_with_its_reason(api: Api) -> None:
    with session_scope(api.sessions) as s:
        jobs = {
            o: finished_job(s, api.alice_id, o).id
            for o in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
        }
        validated_dataset(s, api.alice_id, ready=True)
        validated_dataset(s, api.alice_id, ready=False)

    assert _scan(api.sessions) == 5
    assert _scan(api.sessions) == 0  # a second scan (or a second reconciler) adds nothing

    with api.sessions() as s:
        rows = {
            n.kind: n for n in s.scalars(select(Notification).where(Notification.owner_id == api.alice_id))
        }
    assert set(rows) == {"job.succeeded", "job.failed", "job.cancelled", "dataset.ready", "dataset.error"}
    assert rows["job.failed"].job_id == jobs[JobStatus.FAILED]
    assert rows["job.failed"].body == "no space left on device"
    assert rows["job.failed"].severity == "high"
    assert rows["job.failed"].data is not None and rows["job.failed"].data["error"]["code"] == "disk_full"
    assert rows["job.cancelled"].body == "cancelled by request; the run stopped"
    assert rows["job.succeeded"].data is not None
    assert rows["job.succeeded"].data["reason"] == "2 artifact(s) verified against the manifest"
    assert rows["dataset.error"].body == "line 3: not valid JSON"


def test_a_dedupe_key_is_used_once_per_owner(api: Api) -> None:
    with session_scope(api.sessions) as s:
        first = notify(s, owner_id=api.alice_id, kind="webhook.test", title="t", dedupe_key="k")
        again = notify(s, owner_id=api.alice_id, kind="webhook.test", title="t", dedupe_key="k")
        other = notify(s, owner_id=api.bob_id, kind="webhook.test", title="t", dedupe_key="k")
    assert first is not None and again is None and other is not None


def test_list_filter_pages_read_one_read_all(api: Api) -> None:
    with session_scope(api.sessions) as s:
        for n in range(5):
            notify(s, owner_id=api.alice_id, kind="webhook.test", title=f"n{n}")
        notify(s, owner_id=api.bob_id, kind="webhook.test", title="bob's")
    c = api.client

    page = c.get("/api/notifications", params={"limit": 2}, headers=api.alice).json()
    assert (page["total"], page["unread_count"], len(page["data"]), page["has_more"]) == (5, 5, 2, True)
    last = c.get("/api/notifications", params={"limit": 2, "offset": 4}, headers=api.alice).json()
    assert (len(last["data"]), last["has_more"]) == (1, False)
    titles = [n["title"] for n in c.get("/api/notifications", headers=api.alice).json()["data"]]
    assert sorted(titles) == [f"n{n}" for n in range(5)]

    first_id = page["data"][0]["id"]
    read = c.post(f"/api/notifications/{first_id}/read", headers=api.alice)
    assert read.status_code == 200 and read.json()["read"] is True
    unread = c.get("/api/notifications", params={"unread": True}, headers=api.alice).json()
    assert unread["total"] == 4 and first_id not in [n["id"] for n in unread["data"]]
    assert c.get(f"/api/notifications/{first_id}", headers=api.alice).json()["read"] is True

    assert c.post("/api/notifications/read-all", headers=api.alice).json()["updated"] == 4
    assert c.get("/api/notifications", params={"unread": True}, headers=api.alice).json()["total"] == 0
    # Bob's notification was not touched by alice's read-all.
    assert c.get("/api/notifications", params={"unread": True}, headers=api.bob).json()["total"] == 1


def test_another_users_notification_is_404(api: Api) -> None:
    with session_scope(api.sessions) as s:
        row = notify(s, owner_id=api.alice_id, kind="webhook.test", title="alice only")
        assert row is not None
        note_id = row.id
    c = api.client
    assert c.get(f"/api/notifications/{note_id}", headers=api.bob).status_code == 404
    assert c.post(f"/api/notifications/{note_id}/read", headers=api.bob).status_code == 404
    assert c.get("/api/notifications", headers=api.bob).json()["total"] == 0
    assert c.get(f"/api/notifications/{note_id}", headers=api.alice).json()["read"] is False
    assert c.get("/api/notifications").status_code == 401
