"""The dataset service on real databases (SQLite, PostgreSQL) and a real file:// object store."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

import lorapipe
from lorapipe.datasets.readers import iter_examples
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.errors import DatasetFormatError, NotFoundError, TooLargeError, UserError
from lorapipe.services.datasets import (
    canonical_key,
    create_dataset_from_upload,
    delete_dataset,
    fail_stale_datasets,
    get_dataset,
    iter_canonical_examples,
    list_datasets,
    rename_dataset,
    upload_key,
)
from lorapipe.storage import ObjectStore

pytestmark = pytest.mark.integration

EQ12 = Path(lorapipe.__file__).parent / "samples" / "eq12"
MAX = 10 * 1024 * 1024
OK = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _jsonl(*records: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _upload(
    session: Session,
    store: ObjectStore,
    data: bytes,
    owner: str = "user_1",
    name: str = "demo",
    format: str | None = None,
) -> Dataset:
    return create_dataset_from_upload(
        session, store, owner_id=owner, name=name, stream=io.BytesIO(data), max_bytes=MAX, format=format
    )


def test_eq12_upload_becomes_ready_with_statistics_and_canonical_jsonl(
    session: Session, object_store: ObjectStore
) -> None:
    data = (EQ12 / "EQ-12-conversations-demo.jsonl").read_bytes()
    seen: list[int] = []

    ds = create_dataset_from_upload(
        session,
        object_store,
        owner_id="user_1",
        name="  EQ-12  ",
        stream=io.BytesIO(data),
        filename="EQ-12-conversations-demo.jsonl",
        max_bytes=MAX,
        progress=seen.append,
    )

    assert ds.status == DatasetStatus.READY
    assert ds.name == "EQ-12"
    assert (ds.size_bytes, ds.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert ds.format == "brightrun-lora-v4-jsonl"
    assert ds.statistics is not None and ds.report is not None
    assert (ds.statistics["conversations"], ds.statistics["examples"], ds.statistics["errors"]) == (12, 44, 0)
    assert ds.report["ok"] is True and ds.report["examples"] == 44
    assert ds.error_message is None
    assert seen and seen[-1] == len(data)
    assert object_store.list() == [canonical_key(ds.id), upload_key(ds.id)]
    assert object_store.read_bytes(upload_key(ds.id)) == data

    canonical = list(iter_canonical_examples(object_store, ds))
    expected = list(iter_examples(EQ12 / "EQ-12-conversations-demo.jsonl"))
    assert [e.to_dict() for e in canonical] == [e.to_dict() for e in expected]
    assert len(canonical) == 44
    # Training reads this: the user turn is never doubled.
    for example in canonical:
        roles = [m.role for m in example.messages]
        assert all(not (a == b == "user") for a, b in itertools.pairwise(roles))

    with Session(session.get_bind()) as other:  # committed: another session sees it
        assert other.get(Dataset, ds.id) is not None


def test_both_eq12_files_give_the_same_canonical_dataset(session: Session, object_store: ObjectStore) -> None:
    from_json = _upload(session, object_store, (EQ12 / "EQ-12-conversations-demo.json").read_bytes())
    from_jsonl = _upload(session, object_store, (EQ12 / "EQ-12-conversations-demo.jsonl").read_bytes())

    assert from_json.id != from_jsonl.id
    assert from_json.status == from_jsonl.status == DatasetStatus.READY
    assert object_store.read_bytes(canonical_key(from_json.id)) == object_store.read_bytes(
        canonical_key(from_jsonl.id)
    )


BROKEN = {
    "truncated_json": b"[" + json.dumps(OK).encode() + b', {"messages": [{"role": "us',
    "not_utf8": b'{"messages": [{"role": "user", "content": "caf\xe9"}, {"role": "assistant", "content": "x"}]}\n',
    "mixed_formats": _jsonl(OK, {"instruction": "a", "input": "", "output": "b"}),
    "missing_field": _jsonl(OK, {"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}),
    "unknown_role": _jsonl(
        {"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "y"}]}
    ),
    "empty_file": b"",
    "nothing_to_train": _jsonl({"messages": [{"role": "user", "content": "x"}]}),
}


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_rejected_upload_ends_in_error_and_leaves_nothing_in_the_store(
    session: Session, object_store: ObjectStore, code: str
) -> None:
    ds = _upload(session, object_store, BROKEN[code])

    assert ds.status == DatasetStatus.ERROR
    assert ds.error_message is not None and ds.error_message.startswith(code)
    assert ds.report is not None and ds.report["ok"] is False and ds.report["errors"] >= 1
    assert ds.report["problems"][0]["code"] == code
    assert ds.storage_key is None and ds.canonical_key is None
    assert object_store.list() == []
    session.expire_all()
    assert session.get(Dataset, ds.id) is not None  # the verdict is kept


def test_location_of_the_error_is_reported(session: Session, object_store: ObjectStore) -> None:
    ds = _upload(session, object_store, BROKEN["missing_field"])

    assert ds.error_message is not None
    assert ds.error_message.endswith("(line 2, record 1, $.messages[0].content)")


def test_too_large_upload_leaves_no_row_and_no_object(session: Session, object_store: ObjectStore) -> None:
    with pytest.raises(TooLargeError):
        create_dataset_from_upload(
            session,
            object_store,
            owner_id="user_1",
            name="big",
            stream=io.BytesIO(b"x" * 2000),
            max_bytes=1000,
        )

    assert session.scalars(select(Dataset)).all() == []
    assert object_store.list() == []


def test_failing_stream_leaves_no_row_and_no_object(session: Session, object_store: ObjectStore) -> None:
    def dropped() -> Iterator[bytes]:
        yield _jsonl(OK)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        create_dataset_from_upload(
            session, object_store, owner_id="user_1", name="x", stream=dropped(), max_bytes=MAX
        )

    assert session.scalars(select(Dataset)).all() == []
    assert object_store.list() == []


def test_bad_arguments_are_refused_before_anything_is_written(
    session: Session, object_store: ObjectStore
) -> None:
    with pytest.raises(DatasetFormatError):
        _upload(session, object_store, _jsonl(OK), format="csv-please")
    with pytest.raises(UserError):
        _upload(session, object_store, _jsonl(OK), name="   ")
    assert session.scalars(select(Dataset)).all() == []
    assert object_store.list() == []


def test_explicit_format_that_does_not_match_is_an_error(session: Session, object_store: ObjectStore) -> None:
    ds = _upload(session, object_store, _jsonl(OK), format="alpaca")

    assert ds.status == DatasetStatus.ERROR
    assert object_store.list() == []


def test_identical_bytes_are_stored_once_per_owner(session: Session, object_store: ObjectStore) -> None:
    data = _jsonl(OK)
    first = _upload(session, object_store, data, name="first")
    again = _upload(session, object_store, data, name="second")
    other_owner = _upload(session, object_store, data, owner="user_2")

    assert again.id == first.id and again.name == "first"
    assert other_owner.id != first.id
    assert len(session.scalars(select(Dataset)).all()) == 2
    assert len(object_store.list()) == 4  # upload + canonical, per owner

    delete_dataset(session, "user_1", first.id)
    fresh = _upload(session, object_store, data, name="after delete")
    assert fresh.id != first.id and fresh.status == DatasetStatus.READY


def test_identical_rejected_bytes_return_the_same_verdict(
    session: Session, object_store: ObjectStore
) -> None:
    first = _upload(session, object_store, BROKEN["unknown_role"])
    again = _upload(session, object_store, BROKEN["unknown_role"])

    assert again.id == first.id and again.status == DatasetStatus.ERROR
    assert object_store.list() == []


def test_owners_never_see_each_others_datasets(session: Session, object_store: ObjectStore) -> None:
    mine = _upload(session, object_store, _jsonl(OK), owner="alice")
    _upload(session, object_store, _jsonl(OK, OK), owner="bob")

    assert [d.id for d in list_datasets(session, "alice")] == [mine.id]
    assert get_dataset(session, "alice", mine.id).id == mine.id
    with pytest.raises(NotFoundError):
        get_dataset(session, "bob", mine.id)
    with pytest.raises(NotFoundError):
        rename_dataset(session, "bob", mine.id, name="stolen")
    with pytest.raises(NotFoundError):
        delete_dataset(session, "bob", mine.id)
    assert get_dataset(session, "alice", mine.id).name == "demo"


def test_rename_list_and_soft_delete(session: Session, object_store: ObjectStore) -> None:
    a = _upload(session, object_store, _jsonl(OK), name="a")
    b = _upload(session, object_store, BROKEN["empty_file"], name="b")

    renamed = rename_dataset(session, "user_1", a.id, name="renamed", description="about it")
    assert (renamed.name, renamed.description) == ("renamed", "about it")
    with pytest.raises(UserError):
        rename_dataset(session, "user_1", a.id, name="")

    assert {d.id for d in list_datasets(session, "user_1")} == {a.id, b.id}
    assert [d.id for d in list_datasets(session, "user_1", status=DatasetStatus.ERROR)] == [b.id]

    deleted = delete_dataset(session, "user_1", a.id)
    assert deleted.deleted_at is not None
    assert delete_dataset(session, "user_1", a.id).deleted_at == deleted.deleted_at  # idempotent
    assert [d.id for d in list_datasets(session, "user_1")] == [b.id]
    assert {d.id for d in list_datasets(session, "user_1", include_deleted=True)} == {a.id, b.id}
    with pytest.raises(NotFoundError):
        get_dataset(session, "user_1", a.id)
    # Soft delete keeps the bytes: jobs that trained on it keep their lineage.
    assert object_store.exists(canonical_key(a.id))


def test_concurrent_identical_uploads_keep_one_dataset(
    session: Session, session_factory: sessionmaker[Session], object_store: ObjectStore
) -> None:
    """Another upload of the same bytes commits between our duplicate check and our commit."""
    data = _jsonl(OK)
    competitors: list[Dataset] = []

    def upload_the_same_bytes_first(s: Session) -> None:
        ours = [o for o in s.dirty if isinstance(o, Dataset) and o.sha256]
        if ours and not competitors:
            with session_factory() as other:
                competitors.append(_upload(other, object_store, data, name="competitor"))

    event.listen(session, "before_commit", upload_the_same_bytes_first)
    result = _upload(session, object_store, data, name="ours")

    assert competitors and result.id == competitors[0].id
    assert result.name == "competitor" and result.status == DatasetStatus.READY
    assert [d.id for d in session.scalars(select(Dataset))] == [result.id]
    assert object_store.list() == [canonical_key(result.id), upload_key(result.id)]


def test_service_on_s3_store(session: Session, s3_store: ObjectStore) -> None:
    data = (EQ12 / "EQ-12-conversations-demo.json").read_bytes()

    ds = create_dataset_from_upload(
        session,
        s3_store,
        owner_id="u",
        name="eq12",
        stream=io.BytesIO(data),
        filename="eq12.json",
        max_bytes=MAX,
    )
    rejected = _upload(session, s3_store, BROKEN["truncated_json"], owner="u")

    assert ds.status == DatasetStatus.READY and ds.statistics is not None
    assert ds.statistics["examples"] == 44
    assert ds.report is not None and ds.report["source"] == "eq12.json"  # not the store's internal path
    assert len(list(iter_canonical_examples(s3_store, ds))) == 44
    assert rejected.status == DatasetStatus.ERROR
    assert s3_store.list() == [canonical_key(ds.id), upload_key(ds.id)]


def test_stale_uploads_are_failed_and_cleaned(session: Session, object_store: ObjectStore) -> None:
    stuck = Dataset(id="ds_stuck", owner_id="u", name="stuck", status=DatasetStatus.VALIDATING)
    stuck.storage_key = upload_key(stuck.id)
    object_store.put(stuck.storage_key, b"half-inspected")
    session.add(stuck)
    session.commit()
    done = _upload(session, object_store, _jsonl(OK), owner="u")

    assert fail_stale_datasets(session, object_store, older_than=dt.timedelta(hours=1)) == []
    assert fail_stale_datasets(session, object_store, older_than=dt.timedelta(0)) == ["ds_stuck"]

    assert get_dataset(session, "u", "ds_stuck").status == DatasetStatus.ERROR
    assert get_dataset(session, "u", done.id).status == DatasetStatus.READY
    assert not object_store.exists(upload_key("ds_stuck"))
