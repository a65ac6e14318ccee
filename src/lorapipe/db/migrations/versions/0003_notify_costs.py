"""notifications, webhooks and costs: budgets, webhook_attempts; notification dedupe keys and data;
cost record details, one cost line per (attempt, kind)

Revision ID: 0003_notify_costs
Revises: 0002_job_service
Create Date: 2026-11-28 13:18:36.285024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_notify_costs"
down_revision: str | Sequence[str] | None = "0002_job_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("monthly_usd", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("monthly_usd >= 0", name=op.f("ck_budgets_monthly_usd")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_budgets_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_budgets")),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        sa.UniqueConstraint("delivery_id", "number", name=op.f("uq_webhook_attempts_delivery_id_number")),
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_attempts_delivery_id"), ["delivery_id"], unique=False)

    with op.batch_alter_table("cost_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", _json, nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_cost_records_attempt_id_kind"), ["attempt_id", "kind"]
        )

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("data", _json, nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_notifications_owner_id_dedupe_key"), ["owner_id", "dedupe_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_notifications_owner_id_dedupe_key"), type_="unique")
        batch_op.drop_column("data")
        batch_op.drop_column("dedupe_key")

    with op.batch_alter_table("cost_records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_cost_records_attempt_id_kind"), type_="unique")
        batch_op.drop_column("details")

    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_attempts_delivery_id"))

    op.drop_table("webhook_attempts")
    op.drop_table("budgets")
