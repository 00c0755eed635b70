"""A price estimate before charging, with the engine that prices CDRs (`domain.pricing.price`).

The estimate prices a planned session (energy delivered evenly over the planned duration, all of it charging
time) with the tariff that will apply at the planned start: a session that goes as planned gets a CDR with
exactly this total. No plan discount (the public and drivers see the list price).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from voltline_events.payloads.billing import price_text

from voltline_billing.domain.priced import PricedSession
from voltline_billing.domain.pricing import price
from voltline_billing.domain.tariffs import Tariff
from voltline_billing.domain.usage import Usage
from voltline_billing.service_layer.context import BillingContext, NotFound
from voltline_billing.service_layer.tariffs import ad_hoc_prices, resolve


@dataclass(frozen=True)
class Estimate:
    station_id: str
    tariff: Tariff
    starts_at: datetime
    priced: PricedSession
    price_text: str


def planned_usage(starts_at: datetime, energy_wh: int, duration_s: int) -> Usage:
    return Usage(starts_at, starts_at + timedelta(seconds=duration_s), energy_wh)


def describe(tariff: Tariff) -> str:
    p = ad_hoc_prices(tariff)
    return price_text(tariff.currency, p["energy_price_per_kwh"], p["time_price_per_hour"], p["session_fee"],
                      p["vat_percent"])  # fmt: skip


async def estimate(
    ctx: BillingContext, station_id: str, energy_wh: int, duration_s: int, starts_at: datetime | None = None
) -> Estimate:
    at = starts_at or ctx.clock()
    async with ctx.uow() as uow:
        found = await resolve(uow, station_id, at)
    if found is None:
        raise NotFound(f"no tariff applies to station {station_id!r}, so no price can be estimated")
    priced = price(found.tariff, planned_usage(at, energy_wh, duration_s))
    return Estimate(station_id, found.tariff, at, priced, describe(found.tariff))
