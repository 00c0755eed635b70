"""The outbox/inbox tables every service starts with.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from voltline_store.outbox import create_outbox_tables_op, drop_outbox_tables_op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_tables_op()


def downgrade() -> None:
    drop_outbox_tables_op()
