"""Users and their API keys. Keys are stored only as a SHA-256 hash; the key itself is shown once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, Label, String, select
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
    __table_args__ = (Index("ix_api_keys_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the key, so a user can tell keys apart without the secret.
    display_prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuthGeneration(Base):
    """One row (``id`` 1) whose ``value`` grows in the same transaction as every change that takes a
    live key away (a key revoked, a user disabled). A process that caches key -> user reads it with each
    request and trusts a cached entry only under the value it was cached with, so a revocation made by
    any process (another worker, the CLI) is seen by the next request everywhere."""

    __tablename__ = "auth_generation"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


AUTH_GENERATION_LABEL = "auth_generation"


def auth_generation_column() -> Label[int]:
    """The revocation generation as a column of another query (a scalar subquery), so a hot read gets
    it in the same statement, and the same snapshot, as its row."""
    value = select(AuthGeneration.value).where(AuthGeneration.id == 1).scalar_subquery()
    return value.label(AUTH_GENERATION_LABEL)
