"""Local replica, policy: no replica tables yet (keeps the revision chain for r0005).

Revision ID: r0004
Revises: r0003
Create Date: 2026-11-28
"""

revision = "r0004"
down_revision = "r0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
