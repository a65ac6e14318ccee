"""datasets table

Revision ID: 0001_datasets
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_datasets"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_live = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("format", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=True),
        sa.Column("canonical_key", sa.String(1024), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("statistics", _json, nullable=True),
        sa.Column("report", _json, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.CheckConstraint(
            "status IN ('uploading', 'validating', 'ready', 'error')", name=op.f("ck_datasets_status")
        ),
        sa.CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name=op.f("ck_datasets_size_bytes")),
    )
    op.create_index(op.f("ix_datasets_owner_id"), "datasets", ["owner_id"])
    op.create_index("ix_datasets_owner_id_created_at", "datasets", ["owner_id", "created_at"])
    op.create_index(
        "uq_datasets_owner_id_sha256_live",
        "datasets",
        ["owner_id", "sha256"],
        unique=True,
        sqlite_where=_live,
        postgresql_where=_live,
    )


def downgrade() -> None:
    op.drop_index("uq_datasets_owner_id_sha256_live", table_name="datasets")
    op.drop_index("ix_datasets_owner_id_created_at", table_name="datasets")
    op.drop_index(op.f("ix_datasets_owner_id"), table_name="datasets")
    op.drop_table("datasets")
