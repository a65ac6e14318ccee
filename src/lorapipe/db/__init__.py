"""Persistence: the SQLAlchemy base, engines and sessions, and every table of the service.

Each feature's rows have a module here (accounts, datasets, jobs, costs, notifications, webhooks);
importing this package registers all of them on :data:`Base.metadata`, so a foreign key always finds
its table. This package imports nothing of ours above it (only :mod:`lorapipe.contract`,
:mod:`lorapipe.errors` and :mod:`lorapipe.settings`). Migrations live in ``lorapipe/db/migrations`` and
run with :func:`lorapipe.db.migrate.upgrade`.
"""

# Registers every table (imported for that side effect, in foreign-key order).
from lorapipe.db import accounts, costs, datasets, jobs, notifications, webhooks
from lorapipe.db.base import Base, UTCDateTime, utcnow
from lorapipe.db.engine import create_engine_for, make_sessionmaker, session_scope

__all__ = [
    "Base",
    "UTCDateTime",
    "accounts",
    "costs",
    "create_engine_for",
    "datasets",
    "jobs",
    "make_sessionmaker",
    "notifications",
    "session_scope",
    "utcnow",
    "webhooks",
]
