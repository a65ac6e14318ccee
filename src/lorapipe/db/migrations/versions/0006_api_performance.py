"""api performance: the revocation generation behind the key cache, indexes for the list queries, and
(PostgreSQL) a NOTIFY for every queued job, so a reconciler in another process wakes at once

Revision ID: 0006_api_performance
Revises: 0005_evaluations
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_api_performance"
down_revision: str | Sequence[str] | None = "0005_evaluations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: (table, old single-column index or None, new index, its columns): the indexes the API's list and
#: cursor queries read in order (the new one also serves the old one's lookups, so it replaces it).
_INDEXES = [
    ("files", "ix_files_owner_id", "ix_files_owner_id_created_at", ["owner_id", "created_at"]),
    ("adapters", "ix_adapters_owner_id", "ix_adapters_owner_id_created_at", ["owner_id", "created_at"]),
    ("webhooks", "ix_webhooks_owner_id", "ix_webhooks_owner_id_created_at", ["owner_id", "created_at"]),
    ("api_keys", "ix_api_keys_user_id", "ix_api_keys_user_id_created_at", ["user_id", "created_at"]),
    ("metric_points", None, "ix_metric_points_job_id_id", ["job_id", "id"]),
    ("cost_records", None, "ix_cost_records_job_id", ["job_id"]),
]


#: The channel a reconciler LISTENs on (:mod:`lorapipe.services.queued_jobs`); the payload is the job id.
_CHANNEL = "lorapipe_job_queued"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION lorapipe_job_queued() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{_CHANNEL}', NEW.id); RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER jobs_queued_notify AFTER INSERT OR UPDATE OF status ON jobs "
            "FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION lorapipe_job_queued()"
        )
    for table_name, old, new, columns in _INDEXES:
        op.create_index(op.f(new), table_name, columns, unique=False)
        if old is not None:
            op.drop_index(op.f(old), table_name=table_name)
    table = op.create_table(
        "auth_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_auth_generation_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER jobs_queued_notify ON jobs")
        op.execute("DROP FUNCTION lorapipe_job_queued()")
    op.drop_table("auth_generation")
    for table_name, old, new, columns in reversed(_INDEXES):
        if old is not None:
            op.create_index(op.f(old), table_name, columns[:1], unique=False)
        op.drop_index(op.f(new), table_name=table_name)
