"""What a job's error and status reason may show its owner: what failed, not where it lives on the
server. Engines, backends and the reconciler write messages with file paths, store URLs and object
keys in them (an ``OSError``'s filename, a traceback's last line); each is cut to its last name."""

from __future__ import annotations

import re

_STORE_URL = r"\b(?:file|local|s3|s3a|gs|gcs|az|abfs|memory)://[^\s'\"()]+"
_ABSOLUTE_PATH = r"(?<![\w.:/~-])/(?:[^\s'\"()/:]+/)+[^\s'\"()/:]*"
# Keys of the object store's own folders (services.dataset_upload, jobs.layout, storage).
_OBJECT_KEY = r"(?<![\w./-])(?:datasets|runs|\.incoming)/[^\s'\"()]+"
_PATHS = re.compile(f"{_STORE_URL}|{_ABSOLUTE_PATH}|{_OBJECT_KEY}")


def _last_name(match: re.Match[str]) -> str:
    return match.group(0).rstrip("/").rsplit("/", 1)[-1]


def scrub_paths(text: str) -> str:
    """``text`` with every server path, store URL and object key replaced by its last name."""
    return _PATHS.sub(_last_name, text)
