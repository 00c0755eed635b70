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
