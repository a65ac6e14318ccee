"""The dashboard's lists and errors as a browser meets them: a filter left on "any" (``?status=``), the
pager's links, sorting, and every error under /ui a styled page, never the API's JSON."""

from __future__ import annotations

import pytest
from native_app import EQ12, Native, finish

from lorapipe.contract.job_states import JobStatus

pytestmark = pytest.mark.integration


def sign_in(native: Native, user: str = "alice") -> None:
    native.client.cookies.set("lorapipe_key", native.keys[user])


def _datasets(native: Native, n: int) -> None:
    for i in range(n):  # distinct bytes: identical uploads are deduplicated
        body = EQ12.read_bytes().replace(b"EQ-12-conversations-demo", f"EQ-12-copy-{i}".encode(), 1)
        assert native.upload("alice", body, name=f"set {i:02d}").status_code in (200, 201)


def test_filter_any_and_page_two_of_the_dataset_list(native_sqlite: Native) -> None:
    native = native_sqlite
    _datasets(native, 22)
    sign_in(native)
    first = native.client.get("/ui/datasets", params={"status": "", "q": ""})
    assert first.status_code == 200 and "text/html" in first.headers["content-type"]
    assert "1–20 of 22" in first.text and 'rel="next"' in first.text
    older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = native.client.get(older)
    assert second.status_code == 200, older
    assert "21–22 of 22" in second.text and "set 01" in second.text and "set 21" not in second.text
    assert 'rel="prev"' in second.text
    ready = native.client.get("/ui/datasets", params={"status": "ready", "page": 2})
    assert ready.status_code == 200 and "21–22 of 22" in ready.text


def test_the_dataset_list_sorts_by_its_columns(native_sqlite: Native) -> None:
    native = native_sqlite
    _datasets(native, 3)
    sign_in(native)
    by_name = native.client.get("/ui/datasets", params={"sort": "name"}).text
    assert by_name.index("set 00") < by_name.index("set 01") < by_name.index("set 02")
    assert 'aria-sort="ascending"' in by_name
    by_name_desc = native.client.get("/ui/datasets", params={"sort": "-name"}).text
    assert by_name_desc.index("set 02") < by_name_desc.index("set 00")
    # The column's link flips the direction, and the pager and filter keep the sort.
    assert "sort=-name" in by_name and 'name="sort" value="name"' in by_name
    assert native.client.get("/ui/datasets", params={"sort": "bogus"}).status_code == 400


def test_filter_any_and_page_two_of_the_job_list(native_sqlite: Native) -> None:
    native = native_sqlite
    jobs = []
    for i in range(21):  # all but the last ended as made: a user may have only so many active jobs
        jobs.append(native.job("alice"))
        if i < 20:
            finish(native.sessions, jobs[-1], JobStatus.CANCELLED)
    sign_in(native)
    r = native.client.get("/ui/jobs", params={"status": ""})
    assert r.status_code == 200 and "1–20 of 21" in r.text
    older = r.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    page2 = native.client.get(older)
    assert page2.status_code == 200 and "21–21 of 21" in page2.text and jobs[0] in page2.text
    queued = native.client.get("/ui/jobs", params={"status": "queued"})
    assert queued.status_code == 200 and jobs[-1] in queued.text and jobs[0] not in queued.text


def test_page_two_of_the_adapter_list_is_a_page(native_sqlite: Native) -> None:
    sign_in(native_sqlite)
    r = native_sqlite.client.get("/ui/adapters", params={"page": 2})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


@pytest.mark.parametrize(
    ("url", "status", "heading"),
    [
        ("/ui/no-such-page", 404, "Not found"),
        ("/ui/datasets/ds_0123456789abcdef0123456789abcdef", 404, "Not found"),
        ("/ui/jobs/ftjob-nope", 404, "Not found"),
        ("/ui/datasets?status=nonsense", 400, "Something went wrong"),
        ("/ui/jobs?status=nonsense", 400, "Something went wrong"),
        ("/ui/datasets?page=0", 400, "Not a valid address"),
        ("/ui/jobs?page=abc", 400, "Not a valid address"),
    ],
)
def test_errors_under_ui_are_styled_pages(native_sqlite: Native, url: str, status: int, heading: str) -> None:
    sign_in(native_sqlite)
    r = native_sqlite.client.get(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html"), r.text[:200]
    assert f"<h1>{heading}</h1>" in r.text and 'href="/ui/jobs"' in r.text  # the site's page, with its nav
    assert '"error"' not in r.text


def test_errors_elsewhere_stay_json(native_sqlite: Native) -> None:
    native = native_sqlite
    r = native.client.get("/api/jobs", params={"status": "nonsense"}, headers=native.auth("alice"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    r = native.client.get("/api/no-such-route", headers=native.auth("alice"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert native.client.get("/ui/static/no-such-file.js").status_code == 404


def test_a_signed_out_error_page_still_renders(native_sqlite: Native) -> None:
    r = native_sqlite.client.get("/ui/no-such-page")
    assert r.status_code == 404 and "<h1>Not found</h1>" in r.text and 'href="/ui/jobs"' not in r.text


def test_the_upload_page_and_the_upload_panel(native_sqlite: Native) -> None:
    sign_in(native_sqlite)
    for url in ("/ui/datasets/upload", "/ui/datasets"):
        page = native_sqlite.client.get(url).text
        assert 'id="drop-zone"' in page and 'id="upload-count"' in page and "/ui/static/upload.js" in page
    assert native_sqlite.client.get("/ui/static/upload.js").status_code == 200
