"""drop ix_bucket_drivers_driver (driver counts are found by primary key now); index watermarks by station

Issue 15: what a batch reads must be found by index, or its cost grows with the store.

The worker read a batch's driver counts by `driver_key IN (..) AND bucket_start IN (..)`, which sought by
this index and scanned each driver's whole history: its cost grew with the store. They are now found by
primary key, and nothing else reads by driver, so the index only cost a write per row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 14:40:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bucket_drivers", schema=None) as batch_op:
        batch_op.drop_index("ix_bucket_drivers_driver")
    with op.batch_alter_table("watermarks", schema=None) as batch_op:
        batch_op.create_index("ix_watermarks_station", ["station_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("watermarks", schema=None) as batch_op:
        batch_op.drop_index("ix_watermarks_station")
    with op.batch_alter_table("bucket_drivers", schema=None) as batch_op:
        batch_op.create_index("ix_bucket_drivers_driver", ["driver_key"], unique=False)
