"""Drivers' receipts: the number each CDR's receipt was issued with (and its buyer), drivers' billing details,
stations' addresses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('receipts',
    sa.Column('cdr_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('driver_id', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('buyer', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('cdr_id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_driver_id'), ['driver_id'], unique=False)

    op.create_table('driver_billing_details',
    sa.Column('driver_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('vat_id', sa.String(length=40), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('driver_id')
    )
    op.create_table('station_addresses',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('station_id')
    )


def downgrade() -> None:
    op.drop_table('station_addresses')
    op.drop_table('driver_billing_details')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipts_driver_id'))
    op.drop_table('receipts')
