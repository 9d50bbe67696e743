"""Add the project of each comparison

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "project",
                sa.String(length=100),
                server_default="default",
                nullable=False,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_comparisons_project"), ["project"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comparisons_project"))
        batch_op.drop_column("project")
