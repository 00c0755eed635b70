"""KPIs derived from a bucket's measures (docs/analytics.md defines each one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from voltline_analytics.domain.measures import Measures, from_micro


@dataclass(frozen=True)
class Co2Factors:
    """CO2 avoided per kWh charged: the petrol car's emissions over the same distance minus the grid's."""

    ice_g_per_km: Decimal = Decimal(170)
    ev_kwh_per_km: Decimal = Decimal("0.18")
    grid_g_per_kwh: Decimal = Decimal(250)

    def kg_avoided(self, energy_wh: int) -> Decimal:
        per_kwh_g = self.ice_g_per_km / self.ev_kwh_per_km - self.grid_g_per_kwh
        return _round(Decimal(energy_wh) / 1000 * per_kwh_g / 1000, "0.001")


def _round(value: Decimal, step: str) -> Decimal:
    return value.quantize(Decimal(step), rounding=ROUND_HALF_UP)


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if not whole:
        return None
    return _round(Decimal(part) * 100 / Decimal(whole), "0.01")


@dataclass
class Capacity:
    """What a bucket could have offered: port-seconds of the whole bucket, port-seconds since the stations were
    first seen (uptime's denominator), and port-seconds lost to offline stations (all their ports are down)."""

    port_s: int
    observed_port_s: int
    offline_port_s: int = 0


def kpi_item(
    bucket_start: datetime,
    money: dict[str, Measures],
    totals: Measures,
    capacity: Capacity,
    unique_drivers: int,
    co2: Co2Factors,
    default_currency: str,
) -> dict[str, Any]:
    """One bucket as the API gives it; amounts as decimal strings in the bucket's (first) currency."""
    currency = sorted(money)[0] if money else default_currency
    main = money.get(currency, Measures())
    down = Decimal(totals.fault_port_s + capacity.offline_port_s)
    uptime = None
    if capacity.observed_port_s:
        lost = percent(min(down, Decimal(capacity.observed_port_s)), capacity.observed_port_s) or Decimal(0)
        uptime = 100 - lost
    completed = totals.completed_sessions
    return {
        "bucket_start": bucket_start,
        "sessions": totals.sessions,
        "completed_sessions": completed,
        "failed_sessions": totals.failed_sessions,
        "failed_auth": totals.failed_auth,
        "failed_low_energy": totals.failed_low_energy,
        "failed_error": totals.failed_error,
        "energy_kwh": _kwh(totals.energy_wh),
        "charging_hours": _hours(totals.charging_s),
        "idle_hours": _hours(totals.idle_s),
        "occupied_hours": _hours(totals.occupied_s),
        "revenue_excl_vat": str(from_micro(main.revenue_excl_vat, currency)),
        "revenue_incl_vat": str(from_micro(main.revenue_incl_vat, currency)),
        "refunds_incl_vat": str(from_micro(main.refunds_incl_vat, currency)),
        "currency": currency,
        "revenue_by_currency": {
            cur: {
                "revenue_excl_vat": str(from_micro(m.revenue_excl_vat, cur)),
                "revenue_incl_vat": str(from_micro(m.revenue_incl_vat, cur)),
                "refunds_excl_vat": str(from_micro(m.refunds_excl_vat, cur)),
                "refunds_incl_vat": str(from_micro(m.refunds_incl_vat, cur)),
            }
            for cur, m in sorted(money.items())
        },
        "utilisation_percent": _str(percent(totals.occupied_s, capacity.port_s)),
        "status_utilisation_percent": _str(percent(totals.status_occupied_s, capacity.port_s)),
        "uptime_percent": _str(uptime),
        "avg_energy_kwh": _kwh(totals.energy_wh // completed) if completed else None,
        "avg_duration_min": str(_round(Decimal(totals.duration_s) / 60 / completed, "0.1")) if completed else None,
        "peak_power_kw": str(_round(Decimal(str(totals.peak_power_w)) / 1000, "0.01")),
        "unique_drivers": unique_drivers,
        "co2_avoided_kg": str(co2.kg_avoided(totals.energy_wh)),
    }


def _kwh(wh: int) -> str:
    return str(_round(Decimal(wh) / 1000, "0.001"))


def _hours(s: int) -> str:
    return str(_round(Decimal(s) / 3600, "0.01"))


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
