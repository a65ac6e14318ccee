"""What every use case needs from the running service: its settings, a session factory and the object
store. The API and the dashboard each hold one (``app.state.lorapipe``) and hand it to services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.services.key_cache import KeyCache
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    objects: ObjectStore
    #: Single-user mode (loopback only): requests without a key act as this user.
    single_user_id: str | None = None
    #: Live API keys -> their user, emptied by any revocation (see :mod:`lorapipe.services.key_cache`).
    keys: KeyCache = field(default_factory=KeyCache)
    #: The API's pool for quick requests (an anyio ``CapacityLimiter``, made inside the event loop).
    request_limiter: Any = None
    #: SQLite, or PostgreSQL on this host: read-only sessions on the event loop's own connection, for
    #: the hot reads (see :func:`lorapipe.db.engine.create_loop_reader_for`); None elsewhere.
    loop_sessions: sessionmaker[Session] | None = None
    #: PostgreSQL only: autocommit sessions for the hot reads in worker threads (see
    #: :func:`lorapipe.db.engine.create_reader_for`); None elsewhere.
    read_sessions: sessionmaker[Session] | None = None
    #: The engines of ``loop_sessions`` and ``read_sessions``, for the one-statement reads without a
    #: session (see :meth:`lorapipe.api.deps.Call.row`).
    loop_reader: Engine | None = None
    reader: Engine | None = None
