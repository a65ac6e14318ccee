"""The dashboard pages render from the real database: login redirect, overview totals, dataset
report (problems with line and fix, sample with trained text marked), job page, adapter links."""

from __future__ import annotations

import pytest
from native_app import EQ12, Native, add_metrics, finish, make_adapter, start_attempt

pytestmark = pytest.mark.integration


def sign_in(native: Native, user: str) -> None:
    native.client.cookies.set("lorapipe_key", native.keys[user])


@pytest.mark.parametrize("page", ["/ui/", "/ui/datasets", "/ui/jobs", "/ui/adapters"])
def test_pages_without_a_valid_key_redirect_to_login(native_sqlite: Native, page: str) -> None:
    r = native_sqlite.client.get(page + "?page=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=%2Fui%2F")
    native_sqlite.client.cookies.set("lorapipe_key", "lp-revoked-or-made-up")
    assert native_sqlite.client.get(page, follow_redirects=False).status_code == 303
    login = native_sqlite.client.get(r.headers["location"])
    assert login.status_code == 200 and 'id="login-form"' in login.text


def test_login_never_redirects_off_site(native_sqlite: Native) -> None:
    page = native_sqlite.client.get("/ui/login", params={"next": "//evil.example/x"}).text
    assert 'data-next="/ui/"' in page


def test_overview_and_lists(native_sqlite: Native) -> None:
    native = native_sqlite
    native.upload("alice", EQ12.read_bytes(), name="EQ-12 demo")
    job_id = native.job("alice")
    sign_in(native, "alice")
    overview = native.client.get("/").text
    assert "EQ-12 demo" in overview and job_id in overview and ">44<" in overview
    datasets = native.client.get("/ui/datasets", params={"q": "eq-12", "status": "ready"}).text
    assert "EQ-12 demo" in datasets and "1 dataset<" in datasets
    assert "No datasets match" in native.client.get("/ui/datasets", params={"q": "zzz"}).text
    jobs = native.client.get("/ui/jobs").text
    assert job_id in jobs and "badge-queued" in jobs


def test_dataset_page_shows_problems_and_the_trained_sample(native_sqlite: Native) -> None:
    native = native_sqlite
    good = native.upload("alice", EQ12.read_bytes()).json()
    bad = native.upload(
        "alice", b'{"messages":[{"role":"user","content":"hi"}]}\n{"messages": [oops\n', name="bad"
    ).json()
    sign_in(native, "alice")
    page = native.client.get(f"/ui/datasets/{good['id']}").text
    assert 'id="count-examples">44<' in page and "No problems found" in page
    assert page.count('<mark class="trained">') >= 2  # the trained replies of the sample examples
    page = native.client.get(f"/ui/datasets/{bad['id']}").text
    assert 'id="problems-table"' in page and "Not usable for training" in page
    row = page.split('id="problems-table"')[1]
    assert '<td class="num">2' in row  # the broken line is located


def test_job_page_and_adapter_downloads(native_sqlite: Native) -> None:
    native = native_sqlite
    job_id = native.job("alice")
    attempt = start_attempt(native.sessions, job_id)
    add_metrics(native.sessions, job_id, attempt, 3, loss=1.25, eval_loss=1.5, eta_s=125.0)
    sign_in(native, "alice")
    page = native.client.get(f"/ui/jobs/{job_id}").text
    assert 'data-terminal="false"' in page and 'id="p-loss">1.25<' in page and "2m 05s" in page
    finish(native.sessions, job_id)
    adapter_id = make_adapter(native, "alice", job_id, {"adapter_model.safetensors": b"weights"})
    page = native.client.get(f"/ui/jobs/{job_id}").text
    assert 'data-terminal="true"' in page and f"/ui/adapters/{adapter_id}/download" in page
    listing = native.client.get("/ui/adapters").text
    assert f"/ui/adapters/{adapter_id}/files/adapter_model.safetensors" in listing
    assert "eval loss" not in listing  # this manifest has no metrics: nothing half-printed
    r = native.client.get(f"/ui/adapters/{adapter_id}/files/adapter_model.safetensors")
    assert r.status_code == 200 and r.content == b"weights"
    assert (
        native.client.get(f"/ui/adapters/{adapter_id}/download").headers["content-type"] == "application/zip"
    )


def test_static_assets_are_served(native_sqlite: Native) -> None:
    for name in ("app.css", "app.js", "job.js"):
        r = native_sqlite.client.get(f"/ui/static/{name}")
        assert r.status_code == 200 and len(r.content) > 500, name


def test_someone_elses_or_a_missing_object_is_a_404_page(native_sqlite: Native) -> None:
    native = native_sqlite
    ds = native.upload("alice", EQ12.read_bytes()).json()
    job_id = native.job("alice")
    sign_in(native, "bob")
    for url in (f"/ui/datasets/{ds['id']}", f"/ui/jobs/{job_id}", "/ui/jobs/ftjob-nope"):
        r = native.client.get(url)
        assert r.status_code == 404 and "<h1>Not found</h1>" in r.text, url
