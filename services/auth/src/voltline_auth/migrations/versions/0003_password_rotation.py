"""Verifiers accepted during a password rotation: the one being sent, and the one it replaced.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("pending_password_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("previous_password_hash", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("previous_password_hash")
        batch.drop_column("pending_password_hash")
