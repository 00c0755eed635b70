"""The billing service's tables (its own database; no other service reads them).

Amounts are stored as decimal text (`Amount`): exact on both PostgreSQL and SQLite, where a NUMERIC
column would be read back as a float. Lines and tariffs are JSON documents as priced or issued.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from voltline_store import UTCDateTime, define_outbox_tables


class Amount(TypeDecorator[Decimal]):
    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = MetaData()
_id = String(64)
_pk = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY autoincrements on SQLite

tariffs = Table(
    "tariffs",
    metadata,
    Column("tariff_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=True),  # NULL: the first version, valid since ever
    Column("body", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

tariff_assignments = Table(
    "tariff_assignments",
    metadata,
    Column("id", _pk, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),  # station | group | default
    Column("scope_id", String(64), nullable=False),  # "" for the default
    Column("tariff_id", String(36), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_tariff_assignments_scope", "scope", "scope_id"),
)

station_groups = Table(
    "station_groups",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("group_id", String(64), nullable=False, index=True),
)

billing_sessions = Table(
    "billing_sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("id_token", String(64), nullable=True),
    Column("driver_id", _id, nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("tariff_id", String(36), nullable=True),  # resolved when the session started
    Column("tariff_version", Integer, nullable=True),
    Column("energy_wh", BigInteger, nullable=False, default=0),
    Column("power_w", Amount(), nullable=True),
    Column("last_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),  # active | ended
)

cdrs = Table(
    "cdrs",
    metadata,
    Column("cdr_id", _id, primary_key=True),
    Column("session_id", String(128), nullable=False, unique=True),
    Column("station_id", String(48), nullable=False, index=True),
    Column("evse_id", Integer, nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("id_token", String(64), nullable=True),
    Column("driver_id", _id, nullable=True, index=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=False, index=True),
    Column("stop_reason", String(64), nullable=True),
    Column("energy_wh", BigInteger, nullable=False),
    Column("duration_s", BigInteger, nullable=False),
    Column("charging_s", BigInteger, nullable=False),
    Column("idle_s", BigInteger, nullable=False),
    Column("tariff_id", String(36), nullable=True),
    Column("tariff_version", Integer, nullable=True),
    Column("tariff", JSON, nullable=True),  # the tariff version as priced, for OCPI export
    Column("currency", String(3), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("vat", JSON, nullable=False),
    Column("total_excl_vat", Amount(), nullable=False),
    Column("total_vat", Amount(), nullable=False),
    Column("total_incl_vat", Amount(), nullable=False),
    Column("subscription_id", _id, nullable=True),
    Column("included_wh_used", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
)

payment_methods = Table(
    "payment_methods",
    metadata,
    Column("method_id", _id, primary_key=True),
    Column("driver_id", _id, nullable=False, index=True),
    Column("type", String(16), nullable=False),  # card | wallet | postpaid
    Column("provider", String(32), nullable=True),
    Column("token", String(255), nullable=True),  # the provider's payment method token, never a card number
    Column("label", String(100), nullable=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),  # active | removed
    Column("created_at", UTCDateTime(), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", _id, primary_key=True),
    Column("session_id", String(128), nullable=False, unique=True),
    Column("cdr_id", _id, nullable=True),
    Column("driver_id", _id, nullable=True, index=True),
    Column("method", String(16), nullable=False),
    Column("method_id", _id, nullable=True),
    Column("provider", String(32), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("hold_amount", Amount(), nullable=False),
    Column("held", Amount(), nullable=False),
    Column("due", Amount(), nullable=True),
    Column("captured", Amount(), nullable=False),
    Column("refunded", Amount(), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("provider_ref", String(255), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("invoice_id", _id, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

payment_operations = Table(
    "payment_operations",
    metadata,
    Column("id", _pk, primary_key=True, autoincrement=True),
    Column("payment_id", _id, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("provider_ref", String(255), nullable=True),
    Column("message", Text, nullable=True),
    Column("at", UTCDateTime(), nullable=False),
)

refunds = Table(
    "refunds",
    metadata,
    Column("refund_id", _id, primary_key=True),
    Column("payment_id", _id, ForeignKey("payments.payment_id"), nullable=False, index=True),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(255), nullable=True),
    Column("state", String(16), nullable=False),  # pending | succeeded | failed
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("provider_ref", String(255), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("account", String(100), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("balance", Amount(), nullable=False),  # sum of postings (debit positive)
    Column("credit_limit", Amount(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", _id, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("id", _pk, primary_key=True, autoincrement=True),
    Column("entry_id", _id, ForeignKey("ledger_entries.entry_id"), nullable=False, index=True),
    Column("account", String(100), nullable=False, index=True),
    Column("amount", Amount(), nullable=False),
)

plans = Table(
    "plans",
    metadata,
    Column("plan_id", _id, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("monthly_fee", Amount(), nullable=False),
    Column("included_kwh", Amount(), nullable=False),
    Column("energy_discount_percent", Amount(), nullable=False),
    Column("session_fee_discount_percent", Amount(), nullable=False),
    Column("vat_percent", Amount(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", _id, primary_key=True),
    Column("driver_id", _id, nullable=False, index=True),
    Column("plan_id", _id, ForeignKey("plans.plan_id"), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("cancelled_at", UTCDateTime(), nullable=True),
)

plan_usage = Table(
    "plan_usage",
    metadata,
    Column("subscription_id", _id, primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("included_wh_used", BigInteger, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", _id, primary_key=True),
    Column("kind", String(16), nullable=False),  # invoice | credit_note
    Column("number", String(32), nullable=False, unique=True),
    Column("driver_id", _id, nullable=False, index=True),
    Column("period", String(7), nullable=True),  # invoices only
    Column("currency", String(3), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("total_excl_vat", Amount(), nullable=False),
    Column("total_vat", Amount(), nullable=False),
    Column("total_incl_vat", Amount(), nullable=False),
    Column("corrects", _id, nullable=True),  # credit notes: the invoice they correct
    Column("reason", String(255), nullable=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("payment_status", String(16), nullable=False),  # open | paid (the document itself never changes)
    UniqueConstraint("kind", "driver_id", "period", "currency", name="uq_invoices_driver_period"),
)

subscription_fees = Table(
    "subscription_fees",
    metadata,
    Column("subscription_id", _id, primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("invoice_id", _id, nullable=False),
)

document_counters = Table(
    "document_counters",
    metadata,
    Column("series", String(16), primary_key=True),
    Column("last_number", BigInteger, nullable=False),
)

# Drivers' receipts (issue 16): the number each CDR's receipt got, and the addresses printed on them.
receipts = Table(
    "receipts",
    metadata,
    Column("cdr_id", _id, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("driver_id", _id, nullable=False, index=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("buyer", JSON, nullable=True),  # the driver's billing details as they were at issue
)

driver_billing_details = Table(
    "driver_billing_details",
    metadata,
    Column("driver_id", _id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("address", String(300), nullable=True),
    Column("vat_id", String(40), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

station_addresses = Table(
    "station_addresses",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("address", String(255), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Guests paying at the charger without an account (domain/adhoc.py); the card token is the provider's.
adhoc_payments = Table(
    "adhoc_payments",
    metadata,
    Column("adhoc_id", _id, primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("hold_amount", Amount(), nullable=False),
    Column("id_token", String(36), nullable=False, unique=True),
    Column("card_token", String(255), nullable=False),
    Column("card_label", String(64), nullable=True),
    Column("email", String(254), nullable=True),
    Column("state", String(16), nullable=False),
    Column("provider_ref", String(255), nullable=True),
    Column("session_id", String(128), nullable=True, unique=True),
    Column("message", Text, nullable=True),
    Column("receipt_sent_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

outbox_tables = define_outbox_tables(metadata)
