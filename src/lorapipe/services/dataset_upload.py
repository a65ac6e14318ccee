"""Upload use case: store the bytes, inspect them, end ``ready`` or ``error``.

``uploading`` (bytes arriving) → ``validating`` (stored, being inspected) → ``ready`` (report,
statistics and the canonical JSONL stored beside the upload) or ``error`` (report stored, the
uploaded object deleted: a rejected upload leaves nothing in the store).

Uploads are deduplicated per owner by content: when the same owner uploads bytes whose sha256 matches
one of their datasets that is not deleted, nothing new is stored and that dataset is returned
(whatever its status: identical bytes get the identical verdict). Delete it to upload again.

Commits as it goes, so other sessions can watch a large upload progress.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lorapipe.datasets.inspect import inspect_dataset
from lorapipe.datasets.readers import iter_examples, normalise_format
from lorapipe.datasets.report import DatasetReport
from lorapipe.db.datasets import Dataset, DatasetStatus, new_dataset_id
from lorapipe.errors import LorapipeError, UserError
from lorapipe.storage import ByteSource, ObjectStore

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255


def upload_key(dataset_id: str) -> str:
    """Object key of a dataset's uploaded bytes."""
    return f"datasets/{dataset_id}/upload"


def canonical_key(dataset_id: str) -> str:
    """Object key of a dataset's canonical JSONL (one ``Example.to_dict()`` per line)."""
    return f"datasets/{dataset_id}/canonical.jsonl"


def create_dataset_from_upload(
    session: Session,
    store: ObjectStore,
    *,
    owner_id: str,
    name: str,
    stream: ByteSource,
    max_bytes: int,
    filename: str | None = None,
    format: str | None = None,
    description: str = "",
    max_problems: int = 200,
    progress: Callable[[int], None] | None = None,
) -> Dataset:
    """Store an upload, inspect it, and return the dataset, ``ready`` or ``error``.

    ``ready``: the report and summary statistics are stored, and the canonical JSONL beside the upload.
    ``error``: the report says why; the uploaded bytes are deleted (nothing of a rejected upload stays
    in the store). Token statistics are counted
    later, in a child process (:mod:`lorapipe.services.dataset_tokens`). ``progress`` receives bytes read so far.

    Raises (leaving no row and no object): :class:`TooLargeError` past ``max_bytes``, the source's own
    error if reading it fails, :class:`UserError` for a bad name/owner/format argument.
    """
    owner_id = _check_owner(owner_id)
    name = check_name(name)
    format = normalise_format(format)
    dataset = Dataset(
        id=new_dataset_id(),
        owner_id=owner_id,
        name=name,
        description=description,
        filename=_display_name(filename),
        format=format,
        status=DatasetStatus.UPLOADING,
    )
    dataset.storage_key = upload_key(dataset.id)
    session.add(dataset)
    session.commit()

    try:
        stored = store.put(dataset.storage_key, stream, max_bytes=max_bytes)
    except BaseException:
        _forget(session, store, dataset, delete_object=False)
        raise

    existing = _live_by_content(session, owner_id, stored.sha256)
    if existing is not None:
        _forget(session, store, dataset)
        return existing
    dataset.size_bytes, dataset.sha256 = stored.size, stored.sha256
    dataset.move_to(DatasetStatus.VALIDATING)
    try:
        session.commit()
    except IntegrityError:
        # A concurrent upload of the same bytes by the same owner committed first.
        session.rollback()
        _forget(session, store, dataset)
        winner = _live_by_content(session, owner_id, stored.sha256)
        if winner is None:
            raise
        return winner

    try:
        with store.open(dataset.storage_key) as handle:
            report = inspect_dataset(
                handle,
                format=format,
                keep_problems=max_problems,
                progress=progress,
            )
        # The report would otherwise name the store's internal path.
        report = report.model_copy(update={"source": dataset.filename or dataset.id})
    except LorapipeError as exc:
        reject_dataset(session, store, dataset, None, f"{exc.code}: {exc}")
        return dataset
    except BaseException:
        reject_dataset(session, store, dataset, None, "internal error while inspecting the dataset")
        raise

    if not report.ok:
        reject_dataset(session, store, dataset, report, _error_summary(report))
        return dataset
    try:
        _accept(session, store, dataset, report)
    except BaseException:
        session.rollback()
        reject_dataset(session, store, dataset, report, "internal error while writing the canonical dataset")
        raise
    return dataset


def _accept(session: Session, store: ObjectStore, dataset: Dataset, report: DatasetReport) -> None:
    assert dataset.storage_key is not None
    key = canonical_key(dataset.id)
    with store.open(dataset.storage_key) as handle:
        canonical = store.put(key, _canonical_lines(handle, report.format))
    dataset.canonical_key = key
    dataset.format = report.format
    dataset.report = report.model_dump(mode="json")
    dataset.statistics = _statistics(report) | {
        "canonical_bytes": canonical.size,
        "canonical_sha256": canonical.sha256,
    }
    dataset.move_to(DatasetStatus.READY)
    session.commit()


def reject_dataset(
    session: Session, store: ObjectStore, dataset: Dataset, report: DatasetReport | None, message: str
) -> None:
    """End ``dataset`` in ``error`` with its report (if any), deleting every object written for it."""
    for key in (dataset.storage_key, dataset.canonical_key, canonical_key(dataset.id)):
        if key:
            store.delete(key)
    dataset.storage_key = dataset.canonical_key = None
    if report is not None:
        dataset.report = report.model_dump(mode="json")
        dataset.statistics = _statistics(report)
        dataset.format = report.format or dataset.format
    dataset.error_message = message
    dataset.move_to(DatasetStatus.ERROR)
    session.commit()


def _forget(session: Session, store: ObjectStore, dataset: Dataset, *, delete_object: bool = True) -> None:
    """Remove a dataset that never came to be (failed or duplicate upload): its row and its bytes."""
    if delete_object and dataset.storage_key:
        store.delete(dataset.storage_key)
    try:
        session.rollback()
        session.delete(dataset)
        session.commit()
    except Exception:
        # The caller is already handling the original failure; a leftover 'uploading' row is visible
        # and harmless, so report it rather than mask the first error.
        log.exception("could not remove the row of abandoned upload %s", dataset.id)
        with contextlib.suppress(Exception):
            session.rollback()


def _live_by_content(session: Session, owner_id: str, sha256: str) -> Dataset | None:
    query = select(Dataset).where(
        Dataset.owner_id == owner_id, Dataset.sha256 == sha256, Dataset.deleted_at.is_(None)
    )
    return session.scalars(query).first()


def _canonical_lines(handle: BinaryIO, format: str | None) -> Iterator[bytes]:
    for example in iter_examples(handle, format=format):
        line = json.dumps(example.to_dict(), ensure_ascii=False, separators=(",", ":"))
        yield line.encode("utf-8") + b"\n"


def _statistics(report: DatasetReport) -> dict[str, Any]:
    """The headline figures of a report (what a dataset list shows); the full report is kept too."""
    stats: dict[str, Any] = {
        key: getattr(report, key)
        for key in (
            "format",
            "bytes",
            "records",
            "conversations",
            "examples",
            "messages",
            "errors",
            "warnings",
        )
    }
    if report.tokens is not None:
        tokens = report.tokens
        stats["tokens"] = {
            "tokenizer": tokens.tokenizer,
            "max_length": tokens.max_length,
            "total": tokens.total,
            "trained": tokens.trained,
            "percentiles": tokens.percentiles,
            "over_max_length": tokens.over_max_length,
        }
    return stats


def _error_summary(report: DatasetReport) -> str:
    errors = [p for p in report.problems if p.severity == "error"]
    if not errors:
        return "the file has no example training can use"
    first = errors[0]
    where = first.location()
    text = f"{first.code}: {first.message}" + (f" ({where})" if where else "")
    more = report.errors - 1
    return text + (f"; and {more} more error{'s' if more > 1 else ''}" if more > 0 else "")


def _display_name(filename: str | None) -> str | None:
    """The file's own name, without any client-side folders (browsers may send ``C:\\fakepath\\x``)."""
    if not filename:
        return None
    return PurePosixPath(filename.replace("\\", "/")).name[:MAX_NAME_LENGTH] or None


def _check_owner(owner_id: str) -> str:
    if not owner_id or len(owner_id) > 64:
        raise UserError("owner id must be 1-64 characters", param="owner_id")
    return owner_id


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise UserError(
            f"dataset name must be 1-{MAX_NAME_LENGTH} characters",
            param="name",
            hint="give the dataset a name",
        )
    return name
