"""Creating users, issuing and revoking their API keys (the rows are in :mod:`lorapipe.db.accounts`)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lorapipe.db.accounts import ApiKey, AuthGeneration, User, generate_api_key, hash_api_key
from lorapipe.db.base import utcnow
from lorapipe.db.ids import new_id
from lorapipe.errors import AuthError, ConflictError, NotFoundError, UserError


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


def disable_user(session: Session, name: str) -> User:
    """Mark ``name`` disabled: :func:`authenticate` refuses all its keys from now on (kept for history)."""
    user = find_user(session, name)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        bump_auth_generation(session)
    return user


def list_api_keys(session: Session, user: User | None = None) -> list[tuple[ApiKey, User]]:
    """Every key (or ``user``'s) with its owner, oldest first; rows hold only hashes, never secrets."""
    query = select(ApiKey, User).join(User, User.id == ApiKey.user_id).order_by(ApiKey.created_at)
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return [(key, owner) for key, owner in session.execute(query).all()]


def revoke_api_key(session: Session, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}", param="key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        bump_auth_generation(session)
    return row


def auth_generation(session: Session) -> int | None:
    """The current revocation generation (see :class:`~lorapipe.db.accounts.AuthGeneration`); None
    when the row is missing (then nothing may be trusted from a cache)."""
    # Plain SQL: read with every request, and the ORM's statement handling would cost most of it.
    value = session.connection().exec_driver_sql(_GENERATION_SQL).scalar()
    return None if value is None else int(value)


def bump_auth_generation(session: Session) -> None:
    """Move the revocation generation on, in the caller's transaction: once it commits, every cached
    key -> user entry in every process is stale."""
    session.execute(
        update(AuthGeneration).where(AuthGeneration.id == 1).values(value=AuthGeneration.value + 1)
    )


_GENERATION_SQL = f"SELECT value FROM {AuthGeneration.__tablename__} WHERE id = 1"


def authenticate(session: Session, authorization: str, single_user_id: str | None = None) -> User:
    """The owner of the bearer key in an ``Authorization`` header value. Missing, unknown and revoked keys
    and disabled users are all the same :class:`AuthError` (HTTP 401), except in single-user mode, where
    a request without a key is the local user's."""
    if not authorization and single_user_id is not None:
        local = session.get(User, single_user_id)
        if local is not None:
            return local
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError(
            "missing API key: send 'Authorization: Bearer <key>'", hint="create one: lorapipe keys create"
        )
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key.strip())))
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.revoked_at is not None or user is None or user.disabled_at is not None:
        raise AuthError("invalid API key")
    now = utcnow()
    # Recorded at most once a minute: a write per request would contend with the reconciler.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        session.commit()
    return user
