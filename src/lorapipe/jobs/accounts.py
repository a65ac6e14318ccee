"""Users and their API keys. Keys are stored only as a SHA-256 hash; the key itself is shown once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lorapipe.db.base import Base, UTCDateTime, utcnow
from lorapipe.errors import ConflictError, NotFoundError, UserError
from lorapipe.jobs.ids import new_id

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


def create_user(session: Session, name: str) -> User:
    """A new user named ``name`` (unique); the caller commits."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("a user name is 1 to 100 characters", param="name")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise ConflictError(f"user {name!r} already exists", param="name")
    user = User(id=new_id("user"), name=name)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError(
            f"no user named {name!r}", param="user", hint="create it: lorapipe users create NAME"
        )
    return user


def create_api_key(session: Session, user: User, name: str | None = None) -> tuple[ApiKey, str]:
    """A new key for ``user``: the row (hash only) and the secret, which is never stored."""
    secret = generate_api_key()
    row = ApiKey(
        id=new_id("api_key"),
        user_id=user.id,
        key_hash=hash_api_key(secret),
        display_prefix=secret[:10],
        name=name,
    )
    session.add(row)
    session.flush()
    return row, secret


def revoke_api_key(session: Session, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}", param="key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
