"""Public identifiers: an OpenAI-style prefix plus 24 random hex characters (96 bits)."""

from __future__ import annotations

import secrets

PREFIXES = {
    "user": "user-",
    "api_key": "key-",
    "file": "file-",
    "job": "ftjob-",
    "attempt": "ftatt-",
    "event": "ftevent-",
    "checkpoint": "ftckpt-",
    "adapter": "ftmodel-",
    "evaluation": "fteval-",
    "cost": "cost-",
    "notification": "notif-",
    "webhook": "wh-",
    "delivery": "whdel-",
    "idempotency": "idem-",
}


def new_id(kind: str) -> str:
    """A fresh id for a ``kind`` listed in :data:`PREFIXES`, e.g. ``ftjob-3f2a...``."""
    return PREFIXES[kind] + secrets.token_hex(12)
