"""Events the billing service publishes (through its outbox) for analytics and other consumers."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import Field

from voltline_events.registry import Event, event

_MINOR = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def price_text(
    currency: str,
    energy_per_kwh: Decimal | None,
    time_per_hour: Decimal | None,
    session_fee: Decimal | None,
    vat_percent: Decimal | None,
) -> str:
    """'0.42 EUR/kWh + 1.43 EUR/h + 1.19 EUR per session (incl. 19% VAT)': prices excl. VAT grossed up and
    rounded half-up to the currency's minor unit (display only; the CDR prices exactly)."""
    factor = 1 + (vat_percent or Decimal(0)) / 100
    step = Decimal(1).scaleb(-_MINOR.get(currency, 2))

    def gross(amount: Decimal) -> str:
        return str((amount * factor).quantize(step, rounding=ROUND_HALF_UP))

    parts = []
    if energy_per_kwh is not None:
        parts.append(f"{gross(energy_per_kwh)} {currency}/kWh")
    if time_per_hour is not None:
        parts.append(f"{gross(time_per_hour)} {currency}/h")
    if session_fee is not None:
        parts.append(f"{gross(session_fee)} {currency} per session")
    if not parts:
        return "free of charge"
    vat = f" (incl. {vat_percent.normalize():f}% VAT)" if vat_percent else ""
    return " + ".join(parts) + vat


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


@event
class TariffChanged(Event):
    """A tariff was created or got a new version (keyed by tariff id). Besides the OCPI elements it carries the
    ad-hoc prices a driver sees before charging (the unrestricted components), excl. VAT, for price feeds."""

    TYPE = "billing.tariff_changed"
    VERSION = 1

    tariff_id: str
    version: int = Field(ge=1)
    currency: str = Field(min_length=3, max_length=3)
    valid_from: datetime | None = Field(default=None, description="None: valid for every session (version 1).")
    default: bool = Field(default=False, description="It became the network's default tariff.")
    energy_price_per_kwh: Decimal | None = None
    time_price_per_hour: Decimal | None = None
    session_fee: Decimal | None = None
    vat_percent: Decimal | None = None
    elements: list[dict[str, Any]] = Field(default_factory=list, description="The OCPI 2.2.1 tariff elements.")

    def price_text(self) -> str:
        """The ad-hoc price in words, VAT included, as a driver reads it before charging (never used to bill)."""
        return price_text(self.currency, self.energy_price_per_kwh, self.time_price_per_hour, self.session_fee,
                          self.vat_percent)  # fmt: skip


@event
class TariffAssigned(Event):
    """A tariff was assigned to a station, a group of stations (with its members then) or the whole network."""

    TYPE = "billing.tariff_assigned"
    VERSION = 1

    scope: Literal["station", "group", "default"]
    scope_id: str = Field(default="", description="station or group id; empty for the default")
    tariff_id: str
    station_ids: list[str] = Field(default_factory=list, description="a group's members")
    assigned_at: datetime


@event
class SessionCostUpdated(Event):
    """What a session costs so far (`final`: the CDR's total), priced by billing's one pricing engine.

    Published on the billing events topic, keyed by station id, at most every `VOLTLINE_COST_UPDATE_INTERVAL_S`
    per session while it runs and once with `final` after its CDR; it carries what a station needs to show the
    cost (its transaction id and protocol), so whoever sends the cost to the station keeps no state (ADR 0018).
    """

    TYPE = "billing.session_cost_updated"
    VERSION = 1

    session_id: str
    station_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    transaction_id: str | None = None
    ocpp_version: str | None = None
    id_token: str | None = None
    driver_id: str | None = None
    currency: str = Field(min_length=3, max_length=3)
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    energy_wh: int = Field(ge=0)
    as_of: datetime
    final: bool = False
    cdr_id: str | None = None
    price_text: str | None = Field(default=None, description="The tariff in words, e.g. 'EUR 0.42/kWh incl. VAT'.")
