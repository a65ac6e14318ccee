"""Persistence: the SQLAlchemy base, engines and sessions, and the tables this package owns.

Migrations live in ``lorapipe/db/migrations`` and run with :func:`lorapipe.db.migrate.upgrade`.
"""

from lorapipe.db.base import Base, UTCDateTime, utcnow
from lorapipe.db.engine import create_engine_for, make_sessionmaker, session_scope

__all__ = ["Base", "UTCDateTime", "create_engine_for", "make_sessionmaker", "session_scope", "utcnow"]
