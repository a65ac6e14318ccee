"""The object store on a real local folder and on a real S3 API (moto server, s3fs client)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator

import httpx
import pytest

from lorapipe.errors import (
    LorapipeError,
    ObjectNotFoundError,
    StorageError,
    StorageKeyError,
    TooLargeError,
)
from lorapipe.storage import INCOMING_PREFIX, ObjectStore, validate_key

pytestmark = pytest.mark.integration


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    fixture = "object_store" if request.param == "file" else "s3_store"
    value: ObjectStore = request.getfixturevalue(fixture)
    return value


def _all_objects(store: ObjectStore) -> list[str]:
    """Every object under the root, partial writes included."""
    store.fs.invalidate_cache()
    return sorted(p[len(store.root) + 1 :] for p in store.fs.find(store.root, withdirs=False))


def test_put_streams_and_reports_size_and_sha256(store: ObjectStore) -> None:
    chunks = [b"a" * 700_000, b"", b"b" * 900_000, b"c"]
    data = b"".join(chunks)

    stored = store.put("datasets/ds_1/upload", iter(chunks))

    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.read_bytes("datasets/ds_1/upload") == data
    assert b"".join(store.iter_bytes("datasets/ds_1/upload", chunk_size=65536)) == data
    assert store.size("datasets/ds_1/upload") == len(data)
    assert store.exists("datasets/ds_1/upload")
    assert _all_objects(store) == ["datasets/ds_1/upload"]


def test_put_accepts_file_objects_and_bytes_and_replaces(store: ObjectStore) -> None:
    store.put("a/b.jsonl", io.BytesIO(b"first version"))
    stored = store.put("a/b.jsonl", b"second")

    assert stored.size == 6
    with store.open("a/b.jsonl") as handle:
        assert handle.read() == b"second"


def test_too_large_upload_leaves_nothing_and_keeps_the_old_object(store: ObjectStore) -> None:
    store.put("keep/me", b"old")

    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 100_000

    with pytest.raises(TooLargeError) as info:
        store.put("new/object", endless(), max_bytes=250_000)
    with pytest.raises(TooLargeError):
        store.put("keep/me", io.BytesIO(b"y" * 300_001), max_bytes=300_000)

    assert info.value.code == "file_too_large"
    assert "new/object" not in str(info.value) and store.url not in str(info.value)  # no key, no path
    assert _all_objects(store) == ["keep/me"]
    assert store.read_bytes("keep/me") == b"old"


def test_exactly_max_bytes_is_accepted(store: ObjectStore) -> None:
    assert store.put("edge", b"z" * 1000, max_bytes=1000).size == 1000


def test_failing_source_leaves_nothing(store: ObjectStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial data"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put("x/y", broken())

    assert _all_objects(store) == []


def test_list_delete_and_missing_objects(store: ObjectStore) -> None:
    for key in ("datasets/a/upload", "datasets/a/canonical.jsonl", "datasets/b/upload", "other"):
        store.put(key, key.encode())

    assert store.list() == sorted(
        ["datasets/a/upload", "datasets/a/canonical.jsonl", "datasets/b/upload", "other"]
    )
    assert store.list("datasets/a/") == ["datasets/a/canonical.jsonl", "datasets/a/upload"]
    assert store.list("nothing/here") == []

    assert store.delete("datasets/a/upload") is True
    assert store.delete("datasets/a/upload") is False
    assert not store.exists("datasets/a/upload")
    with pytest.raises(ObjectNotFoundError):
        store.open("datasets/a/upload")
    with pytest.raises(FileNotFoundError):  # the builtin still catches it
        store.read_bytes("never/written")


def test_empty_object(store: ObjectStore) -> None:
    stored = store.put("empty", b"")

    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.read_bytes("empty") == b""


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "a/../../b",
        "a/./b",
        "a//b",
        "a/b/",
        "a\\b",
        "C:/windows",
        ".hidden",
        f"{INCOMING_PREFIX}/x",
        "spaces are not allowed",
        "new\nline",
        "x" * 1025,
    ],
)
def test_invalid_keys_are_refused_before_touching_storage(store: ObjectStore, key: str) -> None:
    with pytest.raises(StorageKeyError):
        store.put(key, b"data")
    with pytest.raises(StorageKeyError):
        store.open(key)
    assert _all_objects(store) == []


def test_valid_keys() -> None:
    for key in ("a", "datasets/ds_0f/upload", "x/y.z/v1.2-rc+3@host,=~"):
        assert validate_key(key) == key


def test_url_for_names_the_object(store: ObjectStore) -> None:
    assert store.url_for("a/b") == store.url + "/a/b"


def test_s3_multipart_upload_over_the_limit_is_aborted(s3_store: ObjectStore) -> None:
    part = b"m" * (1024 * 1024)
    bucket = s3_store.root.split("/")[0]

    with pytest.raises(TooLargeError):
        s3_store.put("big", iter([part] * 20), max_bytes=18 * len(part))
    stored = s3_store.put("big", iter([part] * 17), max_bytes=18 * len(part))

    assert stored.size == 17 * len(part)
    assert s3_store.size("big") == stored.size
    assert _all_objects(s3_store) == ["big"]
    assert s3_store.fs.list_multipart_uploads(bucket) == []


def test_purge_incoming_removes_only_old_partial_writes(store: ObjectStore) -> None:
    store.put("kept", b"complete object")
    store.fs.pipe(f"{store.root}/{INCOMING_PREFIX}/crashed-upload", b"half")

    assert store.purge_incoming(dt.timedelta(hours=1)) == 0
    assert store.purge_incoming(dt.timedelta(0)) == 1
    assert _all_objects(store) == ["kept"]
    assert store.purge_incoming(dt.timedelta(0)) == 0


def test_presigned_urls_read_and_write_without_credentials(s3_store: ObjectStore) -> None:
    s3_store.put("datasets/d/canonical.jsonl", b'{"id": "1"}\n')

    got = httpx.get(s3_store.presigned_url("datasets/d/canonical.jsonl", expires_s=60))
    put = httpx.put(s3_store.presigned_url("jobs/j/adapter.safetensors", method="put"), content=b"weights")

    assert got.status_code == 200 and got.content == b'{"id": "1"}\n'
    assert put.status_code == 200
    assert s3_store.read_bytes("jobs/j/adapter.safetensors") == b"weights"


def test_file_stores_cannot_sign(object_store: ObjectStore) -> None:
    object_store.put("a", b"x")
    with pytest.raises(StorageError):
        object_store.presigned_url("a")


def test_errors_name_neither_the_store_nor_the_key(object_store: ObjectStore) -> None:
    """Store errors end up in API answers and job errors: they say what failed, never a server path or
    an object key."""
    key = "datasets/ds-secret-id/canonical.jsonl"
    raised: list[Exception] = []
    for call in (
        lambda: object_store.open(key),
        lambda: object_store.size(key),
        lambda: object_store.presigned_url(key),
        lambda: object_store.key_of("file:///elsewhere/datasets/x"),
    ):
        with pytest.raises(LorapipeError) as info:
            call()
        raised.append(info.value)
    for exc in raised:
        assert object_store.root not in str(exc) and "ds-secret-id" not in str(exc), str(exc)
        assert "/elsewhere" not in str(exc)
    assert "canonical.jsonl" in str(raised[0])  # which object: its name, not its key
