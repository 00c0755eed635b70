"""Billing: tariffs and assignments, sessions, CDRs, payments, wallet ledger, plans, invoices.

Amounts are decimal text (exact on both dialects).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 13:54:25.917022
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_sessions',
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('id_token', sa.String(length=64), nullable=True),
    sa.Column('driver_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tariff_id', sa.String(length=36), nullable=True),
    sa.Column('tariff_version', sa.Integer(), nullable=True),
    sa.Column('energy_wh', sa.BigInteger(), nullable=False),
    sa.Column('power_w', sa.String(length=40), nullable=True),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('session_id')
    )
    op.create_table('cdrs',
    sa.Column('cdr_id', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('id_token', sa.String(length=64), nullable=True),
    sa.Column('driver_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stop_reason', sa.String(length=64), nullable=True),
    sa.Column('energy_wh', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.BigInteger(), nullable=False),
    sa.Column('charging_s', sa.BigInteger(), nullable=False),
    sa.Column('idle_s', sa.BigInteger(), nullable=False),
    sa.Column('tariff_id', sa.String(length=36), nullable=True),
    sa.Column('tariff_version', sa.Integer(), nullable=True),
    sa.Column('tariff', sa.JSON(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('vat', sa.JSON(), nullable=False),
    sa.Column('total_excl_vat', sa.String(length=40), nullable=False),
    sa.Column('total_vat', sa.String(length=40), nullable=False),
    sa.Column('total_incl_vat', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=True),
    sa.Column('included_wh_used', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cdr_id'),
    sa.UniqueConstraint('session_id')
    )
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cdrs_driver_id'), ['driver_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cdrs_ended_at'), ['ended_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cdrs_station_id'), ['station_id'], unique=False)

    op.create_table('document_counters',
    sa.Column('series', sa.String(length=16), nullable=False),
    sa.Column('last_number', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('series')
    )
    op.create_table('invoices',
    sa.Column('invoice_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('driver_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('total_excl_vat', sa.String(length=40), nullable=False),
    sa.Column('total_vat', sa.String(length=40), nullable=False),
    sa.Column('total_incl_vat', sa.String(length=40), nullable=False),
    sa.Column('corrects', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payment_status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('invoice_id'),
    sa.UniqueConstraint('kind', 'driver_id', 'period', 'currency', name='uq_invoices_driver_period'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_driver_id'), ['driver_id'], unique=False)

    op.create_table('ledger_accounts',
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance', sa.String(length=40), nullable=False),
    sa.Column('credit_limit', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account')
    )
    op.create_table('ledger_entries',
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('entry_id'),
    sa.UniqueConstraint('reference')
    )
    op.create_table('payment_methods',
    sa.Column('method_id', sa.String(length=64), nullable=False),
    sa.Column('driver_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=True),
    sa.Column('token', sa.String(length=255), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('method_id')
    )
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_methods_driver_id'), ['driver_id'], unique=False)

    op.create_table('payment_operations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('provider_ref', sa.String(length=255), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payment_operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_operations_payment_id'), ['payment_id'], unique=False)

    op.create_table('payments',
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('cdr_id', sa.String(length=64), nullable=True),
    sa.Column('driver_id', sa.String(length=64), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('method_id', sa.String(length=64), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('hold_amount', sa.String(length=40), nullable=False),
    sa.Column('held', sa.String(length=40), nullable=False),
    sa.Column('due', sa.String(length=40), nullable=True),
    sa.Column('captured', sa.String(length=40), nullable=False),
    sa.Column('refunded', sa.String(length=40), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('provider_ref', sa.String(length=255), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('invoice_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('payment_id'),
    sa.UniqueConstraint('session_id')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_driver_id'), ['driver_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_state'), ['state'], unique=False)

    op.create_table('plan_usage',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('included_wh_used', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('subscription_id', 'month')
    )
    op.create_table('plans',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('monthly_fee', sa.String(length=40), nullable=False),
    sa.Column('included_kwh', sa.String(length=40), nullable=False),
    sa.Column('energy_discount_percent', sa.String(length=40), nullable=False),
    sa.Column('session_fee_discount_percent', sa.String(length=40), nullable=False),
    sa.Column('vat_percent', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('plan_id')
    )
    op.create_table('station_groups',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('station_id')
    )
    with op.batch_alter_table('station_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_station_groups_group_id'), ['group_id'], unique=False)

    op.create_table('subscription_fees',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('invoice_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('subscription_id', 'period')
    )
    op.create_table('tariff_assignments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.String(length=64), nullable=False),
    sa.Column('tariff_id', sa.String(length=36), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tariff_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_tariff_assignments_scope', ['scope', 'scope_id'], unique=False)

    op.create_table('tariffs',
    sa.Column('tariff_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tariff_id', 'version')
    )
    op.create_table('ledger_postings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.entry_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_postings_account'), ['account'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_postings_entry_id'), ['entry_id'], unique=False)

    op.create_table('refunds',
    sa.Column('refund_id', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('provider_ref', sa.String(length=255), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.payment_id'], ),
    sa.PrimaryKeyConstraint('refund_id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_payment_id'), ['payment_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('driver_id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.plan_id'], ),
    sa.PrimaryKeyConstraint('subscription_id')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_driver_id'), ['driver_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_driver_id'))

    op.drop_table('subscriptions')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_payment_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_postings_entry_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_postings_account'))

    op.drop_table('ledger_postings')
    op.drop_table('tariffs')
    with op.batch_alter_table('tariff_assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_tariff_assignments_scope')

    op.drop_table('tariff_assignments')
    op.drop_table('subscription_fees')
    with op.batch_alter_table('station_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_station_groups_group_id'))

    op.drop_table('station_groups')
    op.drop_table('plans')
    op.drop_table('plan_usage')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_state'))
        batch_op.drop_index(batch_op.f('ix_payments_driver_id'))

    op.drop_table('payments')
    with op.batch_alter_table('payment_operations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_operations_payment_id'))

    op.drop_table('payment_operations')
    with op.batch_alter_table('payment_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_methods_driver_id'))

    op.drop_table('payment_methods')
    op.drop_table('ledger_entries')
    op.drop_table('ledger_accounts')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_driver_id'))

    op.drop_table('invoices')
    op.drop_table('document_counters')
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cdrs_station_id'))
        batch_op.drop_index(batch_op.f('ix_cdrs_ended_at'))
        batch_op.drop_index(batch_op.f('ix_cdrs_driver_id'))

    op.drop_table('cdrs')
    op.drop_table('billing_sessions')
