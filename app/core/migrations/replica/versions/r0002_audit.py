"""Local replica, audit: payload digests so purged entries stay verifiable.

Revision ID: r0002
Revises: r0001
Create Date: 2026-11-22
"""

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
