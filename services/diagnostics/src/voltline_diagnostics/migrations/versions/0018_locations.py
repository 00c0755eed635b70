"""Charging locations (issue 16 item 2): the OCPI-shaped body, coordinates for the search box, and which
location each station belongs to.

Revision ID: 0018_locations
Revises: 0013_boot_answers
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0018_locations"
down_revision = "0013_boot_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("location_id", sa.String(36), primary_key=True),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_locations_lat_lon", "locations", ["latitude", "longitude"])
    op.create_table(
        "location_stations",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("location_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_location_stations_location_id", "location_stations", ["location_id"])


def downgrade() -> None:
    op.drop_table("location_stations")
    op.drop_table("locations")
