"""group buckets: buckets and driver counts keyed by a group id (64 characters); the membership version

Issue 15: a group's KPIs were summed from its stations' buckets at query time (a group of 1,000 stations over a
year read 365,000 rows); its buckets are now materialised like the network's (ADR 0035). A bucket's scope_id
holds a group id, up to 64 characters like station_groups.group_id. SQLite does not enforce VARCHAR lengths.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 23:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # VARCHAR widening: no rewrite, no index rebuild
        for table in ("buckets", "bucket_drivers"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN scope_id TYPE VARCHAR(64)")
    op.create_table(
        "group_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("group_versions")
    op.execute("DELETE FROM bucket_drivers WHERE scope = 'group'")
    op.execute("DELETE FROM buckets WHERE scope = 'group'")
    if op.get_bind().dialect.name == "postgresql":
        for table in ("buckets", "bucket_drivers"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN scope_id TYPE VARCHAR(48)")
