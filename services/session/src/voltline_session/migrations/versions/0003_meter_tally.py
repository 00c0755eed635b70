"""Running meter totals on the session row, so a batch's readings fold in without reading all the old ones.

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
    # NULL: the next change of the session recomputes it from all its readings and fills this in.
    op.add_column("sessions", sa.Column("meter_tally", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("meter_tally")
