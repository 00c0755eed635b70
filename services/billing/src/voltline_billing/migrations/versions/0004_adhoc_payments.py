"""Ad-hoc payments of guests without an account (EU AFIR): the QR payment page.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 11:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adhoc_payments',
    sa.Column('adhoc_id', sa.String(length=64), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('hold_amount', sa.String(length=40), nullable=False),
    sa.Column('id_token', sa.String(length=36), nullable=False),
    sa.Column('card_token', sa.String(length=255), nullable=False),
    sa.Column('card_label', sa.String(length=64), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('provider_ref', sa.String(length=255), nullable=True),
    sa.Column('session_id', sa.String(length=128), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('receipt_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('adhoc_id'),
    sa.UniqueConstraint('id_token'),
    sa.UniqueConstraint('session_id')
    )


def downgrade() -> None:
    op.drop_table('adhoc_payments')
