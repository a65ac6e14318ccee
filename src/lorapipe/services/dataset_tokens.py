"""Token statistics for a stored dataset, counted with a catalogued base model's tokenizer.

The count runs in a child process (``python -m lorapipe.datasets.token_count REQUEST_JSON``), so
the web process never imports transformers. The child reads the dataset's uploaded bytes from a
temporary copy, runs the same inspection as the upload plus tokens, and prints the report as JSON;
the parent stores it as the dataset's report (token figures, histogram, rendered samples with the
trained spans) and refreshes the summary statistics.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from lorapipe.datasets.report import DatasetReport
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.errors import ConflictError, DatasetError, JobTimeoutError
from lorapipe.models.references import check_model_reference, public_model_id
from lorapipe.services.limits import token_count_slots
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

log = logging.getLogger(__name__)

CHILD_TIMEOUT_S = 600
"""Longest a count may take, in seconds (loading a tokenizer the first time builds its cache)."""


def count_tokens(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    dataset: Dataset,
    *,
    model: str,
    max_length: int = 2048,
    samples: int = 3,
) -> Dataset:
    """Count ``dataset``'s tokens with ``model``'s tokenizer and store the fuller report; commit.

    ``model`` is checked as job creation checks it (:func:`check_model_reference`): a web request never
    names an arbitrary server path. Raises :class:`UnknownModelError` (400), :class:`ConflictError`
    (409) unless the dataset is ready,
    :class:`DatasetError` when the count fails, :class:`JobTimeoutError` past :data:`CHILD_TIMEOUT_S`.
    """
    model = check_model_reference(model, settings, param="model")
    if dataset.status != DatasetStatus.READY or dataset.storage_key is None:
        raise ConflictError(f"dataset {dataset.id} is {dataset.status}, not ready", param="dataset_id")
    with tempfile.TemporaryDirectory(prefix="lorapipe-tokens-") as tmp:
        copy = Path(tmp) / "upload"
        with store.open(dataset.storage_key) as source, copy.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        request = {
            "file": str(copy),
            "format": dataset.format,
            "model": model,
            "max_length": max_length,
            "samples": samples,
            "data_dir": str(settings.data_dir),
            "model_cache_dir": str(settings.resolved_model_cache_dir),
        }
        argv = [sys.executable, "-m", "lorapipe.datasets.token_count", json.dumps(request)]
        try:
            # A bounded queue, not one child per request: each child holds a tokenizer (~300 MB).
            with token_count_slots(settings).hold(dataset.owner_id):
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
                )
        except subprocess.TimeoutExpired:
            raise JobTimeoutError(f"counting tokens took over {CHILD_TIMEOUT_S} s", param="model") from None
    answer = _last_json_line(done.stdout)
    if done.returncode != 0 or answer is None or "error" in answer:
        paths = [str(copy), tmp, str(settings.data_dir), str(settings.resolved_model_cache_dir)]
        reason = failure_reason(answer, done.returncode, done.stderr, paths)
        raise DatasetError(f"counting tokens with {public_model_id(model)} failed: {reason}", param="model")
    report = DatasetReport.model_validate(answer["report"])
    update: dict[str, Any] = {"source": dataset.filename or dataset.id}
    if report.tokens is not None:  # named by the model's public id, not the folder it was read from
        update["tokens"] = report.tokens.model_copy(update={"tokenizer": public_model_id(model)})
    report = report.model_copy(update=update)
    dataset.report = report.model_dump(mode="json")
    dataset.statistics = {**(dataset.statistics or {}), **_token_statistics(report)}
    session.commit()
    return dataset


def _token_statistics(report: DatasetReport) -> dict[str, Any]:
    # Examples can change: one whose trained reply alone exceeds max_length is not usable.
    counts = {"examples": report.examples, "errors": report.errors, "warnings": report.warnings}
    if report.tokens is None:
        return counts
    tokens = report.tokens
    return {
        **counts,
        "tokens": {
            "tokenizer": tokens.tokenizer,
            "max_length": tokens.max_length,
            "total": tokens.total,
            "trained": tokens.trained,
            "percentiles": tokens.percentiles,
            "over_max_length": tokens.over_max_length,
        },
    }


_ABSOLUTE_PATH = re.compile(r"(?<![\w$.\]])/(?:[\w.@+~-]+/)+[\w.@+~-]*")


def failure_reason(answer: dict[str, Any] | None, returncode: int, stderr: str, paths: list[str]) -> str:
    """What the user is told when the counting child fails: its own error's message (which names the
    line or field), never its stderr (a traceback names files on the server, which goes to the log);
    server paths in the message are removed."""
    message = ((answer or {}).get("error") or {}).get("message")
    if not isinstance(message, str) or not message:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        log.warning("token count child exited %s: %s", returncode, tail[0])
        message = "the counting process stopped unexpectedly"
    for path in sorted(paths, key=len, reverse=True):
        message = message.replace(path, "<server path>")
    return _ABSOLUTE_PATH.sub("<server path>", message)


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None
