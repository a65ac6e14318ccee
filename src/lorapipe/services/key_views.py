"""The caller's own API keys as the API and the dashboard show them: list (never the secret), create
(the secret is in the create answer only) and revoke. Another user's key is "not found"."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.db.accounts import ApiKey, User
from lorapipe.errors import NotFoundError, UserError
from lorapipe.services import accounts
from lorapipe.services.public import ItemList, ts

MAX_NAME = 100


class KeyPublic(BaseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    name: str | None
    prefix: str = Field(description="The key's first characters, to tell keys apart without the secret.")
    created_at: int
    last_used_at: int | None = Field(description="Recorded at most once a minute.")
    revoked_at: int | None

    @classmethod
    def from_row(cls, row: ApiKey) -> KeyPublic:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.display_prefix,
            created_at=ts(row.created_at),
            last_used_at=ts(row.last_used_at),
            revoked_at=ts(row.revoked_at),
        )


class KeyCreated(KeyPublic):
    secret: str = Field(description="The key itself; shown in this answer only, never stored.")


def list_keys(session: Session, user: User) -> ItemList[KeyPublic]:
    """The user's keys, oldest first, revoked ones included (with their revocation time)."""
    return ItemList[KeyPublic](data=[KeyPublic.from_row(k) for k, _ in accounts.list_api_keys(session, user)])


def create_key(session: Session, user: User, name: str | None = None) -> KeyCreated:
    """A new key for ``user``; commits. The secret is in the answer and nowhere else."""
    name = (name or "").strip() or None
    if name is not None and len(name) > MAX_NAME:
        raise UserError(f"a key name is at most {MAX_NAME} characters", param="name")
    row, secret = accounts.create_api_key(session, user, name)
    session.commit()
    return KeyCreated.model_validate({**dict(KeyPublic.from_row(row)), "secret": secret})


def revoke_key(session: Session, user: User, key_id: str) -> KeyPublic:
    """Revoke one of the user's keys (at once: the next request with it is a 401); commits. Revoking a
    revoked key changes nothing."""
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"no API key with id {key_id!r}", param="key_id")
    accounts.revoke_api_key(session, key_id)
    session.commit()
    return KeyPublic.from_row(row)
