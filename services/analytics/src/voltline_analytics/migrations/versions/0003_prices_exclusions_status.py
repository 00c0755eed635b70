"""tariffs, tariff assignments and uptime exclusions; status-based occupied time

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("tariff_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("energy_price_per_kwh", sa.String(length=40), nullable=True),
        sa.Column("time_price_per_hour", sa.String(length=40), nullable=True),
        sa.Column("session_fee", sa.String(length=40), nullable=True),
        sa.Column("vat_percent", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("tariff_id", "version"),
    )
    op.create_table(
        "tariff_assignments",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("tariff_id", sa.String(length=64), nullable=False),
        sa.Column("station_ids", sa.JSON(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "scope_id"),
    )
    op.create_table(
        "exclusions",
        sa.Column("exclusion_id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("exclusion_id"),
    )
    op.create_index("ix_exclusions_station_id", "exclusions", ["station_id"])
    for table in ("contributions", "buckets"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("status_occupied_s", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("ports") as batch_op:
        batch_op.add_column(sa.Column("occupied_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ports") as batch_op:
        batch_op.drop_column("occupied_since")
    for table in ("buckets", "contributions"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("status_occupied_s")
    op.drop_index("ix_exclusions_station_id", table_name="exclusions")
    op.drop_table("exclusions")
    op.drop_table("tariff_assignments")
    op.drop_table("tariffs")
