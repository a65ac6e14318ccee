"""The adapter, costs, notifications and settings pages render from the real database, and the
``/api/keys`` routes the settings page writes through: a key's secret is in its create answer only,
a revoked key is refused at once, another user's key is not found."""

from __future__ import annotations

import csv
import hashlib
import io
import re

import pytest
from dashboard_seed import seed_adapter, seed_budget_notification
from native_app import EQ12, Native

pytestmark = pytest.mark.integration


def sign_in(native: Native, user: str) -> None:
    native.client.cookies.set("lorapipe_key", native.keys[user])


def test_keys_are_created_shown_once_listed_and_revoked(native: Native) -> None:
    c = native.client
    made = c.post("/api/keys", json={"name": "ci"}, headers=native.auth("alice"))
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert secret.startswith(made.json()["prefix"]) and made.json()["name"] == "ci"
    listed = c.get("/api/keys", headers=native.auth("alice")).json()["data"]
    assert [k["name"] for k in listed] == [None, "ci"] and secret not in str(listed)
    assert c.get("/api/stats", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    # Bob cannot see or revoke Alice's key.
    assert made.json()["id"] not in str(c.get("/api/keys", headers=native.auth("bob")).json())
    assert c.post(f"/api/keys/{made.json()['id']}/revoke", headers=native.auth("bob")).status_code == 404

    revoked = c.post(f"/api/keys/{made.json()['id']}/revoke", headers=native.auth("alice"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert c.get("/api/stats", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert c.post("/api/keys", json={"name": "x" * 101}, headers=native.auth("alice")).status_code == 400


def test_adapter_pages_show_the_run_and_sort_by_eval_loss(native_sqlite: Native) -> None:
    native = native_sqlite
    dataset = native.upload("alice", EQ12.read_bytes(), name="EQ-12 demo").json()
    uid = native.user_ids["alice"]
    good = seed_adapter(native.sessions, uid, native.tmp / "a1", dataset_id=dataset["id"])
    worse = seed_adapter(native.sessions, uid, native.tmp / "a2", summary={"eval_loss_after": 3.5})
    sign_in(native, "alice")

    page = native.client.get(f"/ui/adapters/{good.adapter_id}")
    assert page.status_code == 200
    text = page.text
    assert 'id="eval-figures"' in text and "2.75" in text and "2.05" in text and "-25.5 %" in text
    assert f'href="/ui/datasets/{dataset["id"]}"' in text and "EQ-12 demo" in text
    for rel, data in good.files.items():
        assert f"/ui/adapters/{good.adapter_id}/files/{rel}" in text
        assert hashlib.sha256(data).hexdigest() in text
    assert f"/ui/adapters/{good.adapter_id}/playground" in text and "That sounds frustrating" in text
    assert "q_proj, v_proj" in text

    by_date = native.client.get("/ui/adapters").text
    by_loss = native.client.get("/ui/adapters", params={"sort": "eval_loss"}).text
    assert by_date.index(worse.adapter_id) < by_date.index(good.adapter_id)
    assert by_loss.index(good.adapter_id) < by_loss.index(worse.adapter_id)

    sign_in(native, "bob")
    assert native.client.get(f"/ui/adapters/{good.adapter_id}").status_code == 404


def test_costs_page_chart_csv_and_a_bad_range(native_sqlite: Native) -> None:
    native = native_sqlite
    uid = native.user_ids["alice"]
    seeded = seed_adapter(native.sessions, uid, native.tmp / "a1")
    sign_in(native, "alice")
    put = native.client.put("/api/budget", json={"monthly_usd": 0.05}, headers=native.auth("alice"))
    assert put.status_code == 200, put.text
    text = native.client.get("/ui/costs", params={"start": "", "end": "", "kind": ""}).text
    assert 'id="budget-bar"' in text and 'id="budget-amount">$0.05<' in text and 'id="cost-chart"' in text
    assert seeded.job_id in text and "$0.0125" in text
    assert text.count('class="day-bar"') >= 1

    bad = native.client.get("/ui/costs", params={"start": "2026-05-09", "end": "2026-05-01"})
    assert bad.status_code == 200 and 'id="range-problem"' in bad.text
    assert native.client.get("/ui/costs", params={"start": "nope"}).status_code == 200

    exported = native.client.get("/ui/costs.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["job_id"] for r in rows] == [seeded.job_id] and rows[0]["usd"] == "0.012500"


def test_bell_notifications_page_and_settings(native_sqlite: Native) -> None:
    native = native_sqlite
    uid = native.user_ids["alice"]
    seeded = seed_adapter(native.sessions, uid, native.tmp / "a1")
    seed_budget_notification(native.sessions, uid)
    sign_in(native, "alice")
    overview = native.client.get("/ui/").text
    assert (
        re.search(r'id="bell-count" class="count"\s*>2<', overview) and "Notifications, 2 unread" in overview
    )
    notes = native.client.get("/ui/notifications").text
    assert f'href="/ui/jobs/{seeded.job_id}"' in notes and 'href="/ui/costs"' in notes
    unread = native.client.get("/ui/notifications", params={"unread": "true"}).text
    assert unread.split('id="notifications-list"')[1].count('class="note unread') == 2

    settings = native.client.get("/ui/settings").text
    assert 'id="keys-table"' in settings and native.keys["alice"][:10] in settings
    assert native.keys["alice"] not in settings  # never a secret
    assert 'id="webhook-form"' in settings and 'id="budget-form"' in settings
