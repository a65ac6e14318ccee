"""Native dataset routes over a real database: streaming upload, 413, report, list totals and filters,
rename, delete, and 4xx error objects for bad input."""

from __future__ import annotations

import json

import pytest
from native_app import EQ12, Native

pytestmark = pytest.mark.integration


def small_dataset(n: int) -> bytes:
    """A valid chat-format JSONL with ``n`` examples whose bytes differ from any other ``n``."""
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{n}-{i}"},
                    {"role": "assistant", "content": f"a{i}"},
                ]
            }
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_upload_report_examples_rename_delete(native: Native) -> None:
    r = native.upload("alice", EQ12.read_bytes(), name="EQ-12", filename="C:\\fakepath\\eq12.jsonl")
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["status"] == "ready" and ds["statistics"]["examples"] == 44
    assert ds["bytes"] == EQ12.stat().st_size and ds["filename"] == "eq12.jsonl"

    report = native.client.get(f"/api/datasets/{ds['id']}/report", headers=native.auth("alice")).json()
    assert report["examples"] == 44 and report["conversations"] == 12 and report["ok"] is True
    assert report["source"] == "eq12.jsonl"

    page = native.client.get(
        f"/api/datasets/{ds['id']}/examples", headers=native.auth("alice"), params={"limit": 3, "offset": 1}
    ).json()
    assert len(page["data"]) == 3 and page["has_more"] is True
    assert any(m["trained"] for m in page["data"][0]["messages"])

    r = native.client.patch(
        f"/api/datasets/{ds['id']}",
        headers=native.auth("alice"),
        json={"name": "renamed", "description": "d"},
    )
    assert r.status_code == 200 and r.json()["name"] == "renamed" and r.json()["description"] == "d"

    r = native.client.delete(f"/api/datasets/{ds['id']}", headers=native.auth("alice"))
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert native.client.get(f"/api/datasets/{ds['id']}", headers=native.auth("alice")).status_code == 404
    assert native.client.get("/api/datasets", headers=native.auth("alice")).json()["total"] == 0


def test_invalid_dataset_is_stored_with_located_problems(native: Native) -> None:
    body = b'{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [ broken\n'
    ds = native.upload("alice", body, filename="bad.jsonl").json()
    assert ds["status"] == "error" and ds["error_message"]
    report = native.client.get(f"/api/datasets/{ds['id']}/report", headers=native.auth("alice")).json()
    assert report["ok"] is False and report["errors"] >= 1
    located = [p for p in report["problems"] if p["severity"] == "error"]
    assert located and located[0]["line"] is not None and located[0]["suggestion"]
    r = native.client.get(f"/api/datasets/{ds['id']}/examples", headers=native.auth("alice"))
    assert r.status_code == 409 and r.json()["error"]["kind"] == "user"


def test_upload_over_the_limit_is_413_and_leaves_nothing(native: Native) -> None:
    native.settings.max_upload_bytes = 1000
    big = small_dataset(200)
    assert len(big) > 1000
    r = native.upload("alice", big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"

    # No Content-Length (chunked): the limit is enforced while the bytes stream in.
    def chunks() -> object:
        for start in range(0, len(big), 256):
            yield big[start : start + 256]

    r = native.client.post(
        "/api/datasets", headers=native.auth("alice"), params={"name": "x"}, content=chunks()
    )
    assert r.status_code == 413 and r.json()["error"]["param"] == "file"
    assert native.client.get("/api/datasets", headers=native.auth("alice")).json()["total"] == 0
    assert native.upload("alice", small_dataset(2)).status_code == 201


def test_list_filters_and_pages_count_all_rows(native: Native) -> None:
    for n in range(1, 6):
        assert native.upload("alice", small_dataset(n), name=f"set-{n}").status_code == 201
    native.upload("alice", b"not json at all\n", name="broken-one")
    native.upload("bob", small_dataset(9), name="bobs")

    first = native.client.get("/api/datasets", headers=native.auth("alice"), params={"limit": 2}).json()
    assert first["total"] == 6 and len(first["data"]) == 2 and first["has_more"] is True
    assert first["data"][0]["name"] == "broken-one"  # newest first
    last = native.client.get(
        "/api/datasets", headers=native.auth("alice"), params={"limit": 2, "offset": 4}
    ).json()
    assert len(last["data"]) == 2 and last["has_more"] is False
    seen = {d["id"] for d in first["data"]} | {d["id"] for d in last["data"]}
    assert len(seen) == 4

    errors = native.client.get(
        "/api/datasets", headers=native.auth("alice"), params={"status": "error"}
    ).json()
    assert errors["total"] == 1 and errors["data"][0]["name"] == "broken-one"
    found = native.client.get("/api/datasets", headers=native.auth("alice"), params={"q": "SET-"}).json()
    assert found["total"] == 5
    # LIKE wildcards are literal in q.
    assert (
        native.client.get("/api/datasets", headers=native.auth("alice"), params={"q": "%"}).json()["total"]
        == 0
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "param"),
    [
        ("get", "/api/datasets", {"params": {"status": "done"}}, "status"),
        ("get", "/api/datasets", {"params": {"limit": 0}}, "limit"),
        ("get", "/api/datasets", {"params": {"offset": -1}}, "offset"),
        ("post", "/api/datasets", {"params": {"name": "x", "format": "xml"}, "content": b"{}"}, "format"),
        ("post", "/api/datasets", {"params": {"name": "   "}, "content": b"{}"}, "name"),
    ],
)
def test_bad_input_is_a_4xx_error_object(
    native: Native, method: str, path: str, kwargs: dict[str, object], param: str
) -> None:
    r = getattr(native.client, method)(path, headers=native.auth("alice"), **kwargs)
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert {"code", "message", "param", "kind"} <= error.keys() and error["kind"] == "user"
    assert param in (error["param"] or "") or param in error["message"]


def test_rename_rejects_unknown_fields_and_empty_names(native: Native) -> None:
    ds = native.upload("alice", small_dataset(1)).json()
    for body in ({"name": ""}, {"owner_id": "x"}, {"name": "x" * 300}):
        r = native.client.patch(f"/api/datasets/{ds['id']}", headers=native.auth("alice"), json=body)
        assert r.status_code == 400, (body, r.text)
    r = native.client.patch(
        f"/api/datasets/{ds['id']}",
        headers=native.auth("alice"),
        content=b"{not json",
    )
    assert r.status_code == 400
