"""adapter names unique per owner, not across all users

Revision ID: 0004_adapter_names_per_owner
Revises: 0003_notify_costs
Create Date: 2026-12-02 07:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_adapter_names_per_owner"
down_revision: str | Sequence[str] | None = "0003_notify_costs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("adapters", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_adapters_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_adapters_owner_id_name"), ["owner_id", "name"])


def downgrade() -> None:
    # Fails while two users hold adapters of one name: rename one of them first.
    with op.batch_alter_table("adapters", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_adapters_owner_id_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_adapters_name"), ["name"])
