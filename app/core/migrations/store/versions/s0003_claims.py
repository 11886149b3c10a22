"""Shared store, sync: ticket claims (leases) for multi-reviewer queues.

Revision ID: s0003
Revises: s0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_claims_expires_at", "claims", ["expires_at"])


def downgrade() -> None:
    op.drop_table("claims")
