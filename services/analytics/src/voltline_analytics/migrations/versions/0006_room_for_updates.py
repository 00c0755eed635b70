"""leave room in the pages of the rows every batch rewrites (PostgreSQL: fillfactor), so updates stay HOT

Issue 15: a replay's batch rewrites every station's ports and watermarks and moves the network buckets and
each station's day; in full pages each update wrote a new entry into every index of the table (a 100,000-event
replay: 6,020 of 38,000 watermark updates and 71 of 33,779 bucket updates were HOT), and the dead versions'
index entries piled up between autovacuum runs, so each upsert's conflict check walked more of them as the
replay went on. With free room in the page, PostgreSQL writes the new version beside the old one and touches
no index (a heap-only tuple). SQLite has no such setting.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 21:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The live state (one row per station, port, stream and station: rewritten by nearly every batch) and the
# buckets (a station's day and the network's hours and days are moved by many batches; most rows by few).
FILLFACTOR = {"stations": 50, "ports": 50, "watermarks": 50, "buckets": 85}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, percent in FILLFACTOR.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in FILLFACTOR:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
