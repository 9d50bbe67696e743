"""Add the device queue each job is sent to

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Jobs stored before per-job devices were all sent to the cpu queue.
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "device", sa.String(length=8), server_default="cpu", nullable=False
            )
        )
        batch_op.create_index(batch_op.f("ix_jobs_device"), ["device"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_device"))
        batch_op.drop_column("device")
