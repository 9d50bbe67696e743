"""Add executed steps, early-stopping epochs, and job insights to jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTEGER_COLUMNS = ("steps_executed", "stopped_epoch", "best_epoch")
JSON_COLUMNS = ("classification", "cost", "device_fit")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name in INTEGER_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        for name in JSON_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name in reversed(INTEGER_COLUMNS + JSON_COLUMNS):
            batch_op.drop_column(name)
