"""Local replica, sync: in-flight outbox rows, atomic pull staging, remote decisions, claims.

Revision ID: r0003
Revises: r0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "r0003"
down_revision = "r0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("pushing_since", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "pull_staging",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("row", sa.Text(), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=False),
    )
    op.create_table(
        "remote_decisions",
        sa.Column("decision_id", sa.String(36), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=False),
    )
    op.create_index("ix_remote_decisions_ticket", "remote_decisions", ["ticket_id"])
    op.create_table(
        "claims",
        sa.Column("ticket_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("claims")
    op.drop_table("remote_decisions")
    op.drop_table("pull_staging")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("pushing_since")
