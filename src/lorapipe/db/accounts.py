"""Users and their API keys. Keys are stored only as a SHA-256 hash; the key itself is shown once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lorapipe.db.base import Base, UTCDateTime, utcnow

API_KEY_PREFIX = "lp-"


def generate_api_key() -> str:
    """A new secret key: ``lp-`` plus 40 random URL-safe characters (240 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(30)


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest of ``key``. A fast hash is enough: keys are random, not passwords."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the key, so a user can tell keys apart without the secret.
    display_prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
