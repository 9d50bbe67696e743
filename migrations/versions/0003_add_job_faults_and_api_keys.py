"""Add job projects, idempotency keys, enqueue and time-limit fields, and API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 11:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "project",
                sa.String(length=100),
                server_default="default",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("idempotency_key", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("request_sha256", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("time_limit_seconds", sa.Integer(), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_jobs_project"), ["project"], unique=False)
        batch_op.create_unique_constraint(
            "uq_jobs_project_idempotency_key", ["project", "idempotency_key"]
        )
    # Jobs created before this revision were sent when they were stored.
    op.execute("UPDATE jobs SET enqueued_at = created_at")

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_sha256"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_project"), ["project"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_project"))
    op.drop_table("api_keys")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_jobs_project_idempotency_key", type_="unique")
        batch_op.drop_index(batch_op.f("ix_jobs_project"))
        batch_op.drop_column("time_limit_seconds")
        batch_op.drop_column("enqueued_at")
        batch_op.drop_column("request_sha256")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("project")
