"""Indexes for filtered queues in due order (issue 7, P10).

Revision ID: r0006
"""

from alembic import op

revision = "r0006"
down_revision = "r0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_status_workflow_due", "tickets", ["status", "workflow", "due_at", "id"])
    op.create_index("ix_tickets_status_queue_due", "tickets", ["status", "queue", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_status_queue_due", table_name="tickets")
    op.drop_index("ix_tickets_status_workflow_due", table_name="tickets")
