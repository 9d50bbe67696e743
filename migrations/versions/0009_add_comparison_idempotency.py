"""Add Idempotency-Key columns to comparisons

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("idempotency_key", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("request_sha256", sa.String(length=64), nullable=True)
        )
        batch_op.create_unique_constraint(
            "uq_comparisons_project_idempotency_key", ["project", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_comparisons_project_idempotency_key", type_="unique"
        )
        batch_op.drop_column("request_sha256")
        batch_op.drop_column("idempotency_key")
