"""Create comparisons and their runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 10:12:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_comparisons_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "comparison_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comparison_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comparison_id"], ["comparisons.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("comparison_id", "job_id", name="uq_comparison_run_job"),
        sa.UniqueConstraint("comparison_id", "label", name="uq_comparison_run_label"),
    )
    with op.batch_alter_table("comparison_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_comparison_runs_comparison_id"),
            ["comparison_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_comparison_runs_job_id"), ["job_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("comparison_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comparison_runs_job_id"))
        batch_op.drop_index(batch_op.f("ix_comparison_runs_comparison_id"))

    op.drop_table("comparison_runs")
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comparisons_created_at"))

    op.drop_table("comparisons")
