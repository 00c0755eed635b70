"""Summaries of the fleet as the diagnostics service reports it, for the overview (no I/O here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CONNECTOR_STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted", "Unknown")
HEALTH = ("online", "unresponsive", "offline")


@dataclass(frozen=True, slots=True)
class FleetSummary:
    stations: int
    by_health: dict[str, int]
    connectors_by_status: dict[str, int]


def summarise(stations: Iterable[Mapping[str, Any]]) -> FleetSummary:
    """Stations by health and connectors by status; every known value is present (0 when none)."""
    health: Counter[str] = Counter()
    connectors: Counter[str] = Counter()
    count = 0
    for station in stations:
        count += 1
        health[str(station.get("health") or ("online" if station.get("online") else "offline"))] += 1
        for connector in station.get("connectors") or ():
            connectors[str(connector.get("status") or "Unknown")] += 1
    return FleetSummary(
        stations=count,
        by_health={h: health.get(h, 0) for h in (*HEALTH, *sorted(set(health) - set(HEALTH)))},
        connectors_by_status={
            s: connectors.get(s, 0) for s in (*CONNECTOR_STATUSES, *sorted(set(connectors) - set(CONNECTOR_STATUSES)))
        },
    )


@dataclass(frozen=True, slots=True)
class DayTotals:
    sessions: int
    energy_kwh: Decimal
    revenue_incl_vat: Decimal
    currency: str | None


def day_totals(buckets: Iterable[Mapping[str, Any]]) -> DayTotals:
    """Energy and revenue of the analytics buckets given (today's); amounts stay Decimal, never float."""
    sessions, energy, revenue, currency = 0, Decimal(0), Decimal(0), None
    for bucket in buckets:
        sessions += int(bucket.get("sessions") or 0)
        energy += Decimal(str(bucket.get("energy_kwh") or 0))
        revenue += Decimal(str(bucket.get("revenue_incl_vat") or 0))
        currency = currency or bucket.get("currency")
    return DayTotals(sessions, energy, revenue, currency)
