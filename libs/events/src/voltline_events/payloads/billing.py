"""Events the billing service publishes (through its outbox) for analytics and other consumers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from voltline_events.registry import Event, event


@event
class CdrCreated(Event):
    """A session was priced: one per session, amounts as decimal strings in the CDR's currency."""

    TYPE = "billing.cdr_created"
    VERSION = 1

    cdr_id: str
    session_id: str
    station_id: str
    driver_id: str | None = None
    started_at: datetime
    ended_at: datetime
    currency: str = Field(min_length=3, max_length=3)
    energy_kwh: Decimal
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    revision: int = Field(
        default=1, ge=1, description="A re-priced session is published again with revision + 1; the highest wins."
    )


@event
class RefundIssued(Event):
    """Money went back to a driver for a priced session (a card refund or a wallet credit that succeeded).

    Carries the session's station and start so consumers (analytics) correct the bucket the session's revenue
    was counted in; `amount_excl_vat` is the refund's share excluding VAT, in the CDR's proportion.
    """

    TYPE = "billing.refund_issued"
    VERSION = 1

    refund_id: str
    payment_id: str
    session_id: str
    station_id: str
    cdr_id: str | None = None
    session_started_at: datetime
    refunded_at: datetime
    currency: str = Field(min_length=3, max_length=3)
    amount_incl_vat: Decimal
    amount_excl_vat: Decimal
    reason: str | None = None
