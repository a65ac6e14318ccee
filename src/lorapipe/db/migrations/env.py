"""Alembic environment: runs the migrations in ``versions/`` against one database.

The URL comes from, in order: a connection handed over by :mod:`lorapipe.db.migrate`
(``config.attributes["connection"]``), ``sqlalchemy.url`` in the Alembic config, or the settings
(``LORAPIPE_DATABASE_URL``, default the SQLite file in the data dir).
"""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import Connection

from lorapipe.db.base import Base
from lorapipe.db.migrate import migration_connection
from lorapipe.settings import get_settings

# Every module that defines ORM rows, so ``alembic revision --autogenerate`` sees all tables.
TABLE_MODULES: tuple[str, ...] = ("lorapipe.db",)

for _module in TABLE_MODULES:
    importlib.import_module(_module)

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    with migration_connection(_url()) as conn:
        _run(conn)
