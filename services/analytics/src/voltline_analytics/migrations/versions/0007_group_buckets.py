"""group buckets: buckets and driver counts keyed by a group id (64 characters); the membership version

Issue 15: a group's KPIs were summed from its stations' buckets at query time (a group of 1,000 stations over a
year read 365,000 rows); its buckets are now materialised like the network's (ADR 0035). A bucket's scope_id
holds a group id, up to 64 characters like station_groups.group_id. SQLite does not enforce VARCHAR lengths.
The groups that exist get their buckets here, summed from their members' (as a membership change rebuilds
them), and the membership version starts at 1 if there are any.

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


# The summed measures at this revision (domain/measures.py SUMMED), spelled out: a migration does not change.
SUMMED = (
    "sessions completed_sessions failed_sessions failed_auth failed_low_energy failed_error energy_wh charging_s "
    "idle_s occupied_s duration_s cdrs offline_s fault_port_s status_occupied_s revenue_excl_vat revenue_incl_vat "
    "refunds_excl_vat refunds_incl_vat"
).split()
BUILD = (
    f"INSERT INTO buckets (scope, scope_id, granularity, bucket_start, currency, {', '.join(SUMMED)}, peak_power_w, "
    f"unique_drivers) SELECT 'group', m.group_id, b.granularity, b.bucket_start, b.currency, "
    f"{', '.join(f'SUM(b.{n})' for n in SUMMED)}, MAX(b.peak_power_w), 0 "
    "FROM buckets b JOIN station_groups m ON m.station_id = b.scope_id "
    "WHERE b.scope = 'station' GROUP BY m.group_id, b.granularity, b.bucket_start, b.currency",
    "INSERT INTO bucket_drivers (scope, scope_id, granularity, bucket_start, driver_key, refs) "
    "SELECT 'group', m.group_id, d.granularity, d.bucket_start, d.driver_key, SUM(d.refs) "
    "FROM bucket_drivers d JOIN station_groups m ON m.station_id = d.scope_id "
    "WHERE d.scope = 'station' GROUP BY m.group_id, d.granularity, d.bucket_start, d.driver_key",
    "UPDATE buckets SET unique_drivers = (SELECT COUNT(*) FROM bucket_drivers d WHERE d.scope = 'group' "
    "AND d.scope_id = buckets.scope_id AND d.granularity = buckets.granularity "
    "AND d.bucket_start = buckets.bucket_start) WHERE scope = 'group' AND currency = ''",
    "INSERT INTO group_versions (id, version) SELECT 1, 1 WHERE EXISTS (SELECT 1 FROM station_groups)",
)


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
    for statement in BUILD:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("group_versions")
    op.execute("DELETE FROM bucket_drivers WHERE scope = 'group'")
    op.execute("DELETE FROM buckets WHERE scope = 'group'")
    if op.get_bind().dialect.name == "postgresql":
        for table in ("buckets", "bucket_drivers"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN scope_id TYPE VARCHAR(48)")
