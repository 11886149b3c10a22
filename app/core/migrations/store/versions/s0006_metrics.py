"""Shared store, metrics: processed volume, workflow settings (shadow mode, blind second review),
second-review pairs.

Revision ID: s0006
Revises: s0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "s0006"
down_revision = "s0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "processed_volume",
        sa.Column("workflow", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
    )
    op.create_table(
        "workflow_settings",
        sa.Column("workflow", sa.String(64), primary_key=True),
        sa.Column("shadow_mode", sa.Boolean(), nullable=False),
        sa.Column("shadow_since", TS, nullable=True),
        sa.Column("second_review_share", sa.Float(), nullable=False),
        sa.Column("second_review_salt", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "second_reviews",
        sa.Column(
            "ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), primary_key=True, autoincrement=False
        ),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("first_decision_id", sa.String(36), nullable=False),
        sa.Column("first_reviewer", sa.String(200), nullable=False),
        sa.Column("first_action", sa.String(16), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("second_decision_id", sa.String(36), nullable=True),
        sa.Column("second_reviewer", sa.String(200), nullable=True),
        sa.Column("second_action", sa.String(16), nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("agreed", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_second_reviews_second_decision", "second_reviews", ["second_decision_id"])
    op.create_index("ix_second_reviews_workflow_closed", "second_reviews", ["workflow", "closed_at"])
    # The metrics read tickets by creation time (every figure is about tickets created in a range).
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    for table in ("second_reviews", "workflow_settings", "processed_volume"):
        op.drop_table(table)
