"""Regulatory shapes: the US NEVI data set (23 CFR 680.112) and the EU AFIR dynamic EVSE data (OCPI 2.2.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from voltline_analytics.domain.timeslots import overlap_s

# How the driver paid/identified, from the OCPP IdTokenType the session started with.
PAYMENT_METHODS = {
    "ISO14443": "rfid_card",
    "ISO15693": "rfid_card",
    "Central": "app",
    "eMAID": "contract_emaid",
    "KeyCode": "keycode",
    "MacAddress": "autocharge",
    "Local": "local",
    "NoAuthorization": "free_or_ad_hoc",
}
NEVI_SESSION_FIELDS = (
    "station_id", "port_id", "session_id", "session_start", "session_end", "energy_kwh", "peak_power_kw",
    "payment_method", "successful", "failure", "error_code", "ocpp_version",
)  # fmt: skip
NEVI_UPTIME_FIELDS = (
    "station_id", "port_id", "month", "period_minutes", "outage_minutes", "excluded_minutes", "uptime_percent",
    "outage_count", "outages",
)  # fmt: skip
# OCPP connector status -> OCPI 2.2.1 EVSE Status.
OCPI_STATUS = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Finishing": "CHARGING",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}


def _q(value: Decimal, step: str) -> Decimal:
    return value.quantize(Decimal(step), rounding=ROUND_HALF_UP)


def nevi_session_row(data: dict[str, Any]) -> list[Any]:
    """One session (a `facts.data` of kind session) as a NEVI row."""
    failure = data.get("failure")
    ended = data.get("ended_at")
    peak = data.get("peak_power_w")
    return [
        data["station_id"],
        data.get("evse_id"),
        data["session_id"],
        data["started_at"],
        ended,
        _kwh(data.get("energy_wh") or 0),
        str(_q(Decimal(str(peak)) / 1000, "0.01")) if peak is not None else "",
        PAYMENT_METHODS.get(data.get("id_token_type") or "", "unknown"),
        "" if ended is None else str(failure is None).lower(),
        failure or "",
        (data.get("stop_reason") or "") if failure else "",
        data.get("ocpp_version") or "",
    ]


def _kwh(wh: int) -> str:
    """Wh as kWh with three decimals, exactly (integer arithmetic: the NEVI export formats 100,000s of these)."""
    sign, wh = ("-", -wh) if wh < 0 else ("", wh)
    return f"{sign}{wh // 1000}.{wh % 1000:03d}"


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    kind: str  # offline (whole station) or fault (this port)


def port_uptime(
    station_id: str,
    port_id: int,
    month_start: datetime,
    month_end: datetime,
    first_seen: datetime | None,
    now: datetime,
    outages: list[Outage],
    exclusions: Sequence[tuple[datetime, datetime]] = (),
) -> list[Any]:
    """A port's month: uptime = (T - (outage - excluded)) / T over the observed minutes T (NEVI 680.116).
    Excluded time is the part of the outages that falls in the exclusions declared in diagnostics."""
    observed_from = max(month_start, first_seen) if first_seen else month_end
    period_s = overlap_s(month_start, month_end, observed_from, now)
    clipped = sorted(
        (max(o.start, observed_from), min(o.end, month_end, now), o.kind)
        for o in outages
        if overlap_s(o.start, o.end, observed_from, min(month_end, now))
    )
    merged: list[list[Any]] = []
    for start, end, kind in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, kind])
    outage_s = sum(int((e - s).total_seconds()) for s, e, _ in merged)
    excluded_s = sum(overlap_s(s, e, a, b) for s, e, _ in merged for a, b in _union(exclusions))
    uptime = _q(Decimal(period_s - (outage_s - excluded_s)) * 100 / period_s, "0.01") if period_s else None
    listed = ";".join(
        f"{s.isoformat().replace('+00:00', 'Z')}/{e.isoformat().replace('+00:00', 'Z')}/{kind}/"
        f"{_q(Decimal(int((e - s).total_seconds())) / 60, '0.1')}"
        for s, e, kind in merged
    )
    return [
        station_id,
        port_id,
        month_start.strftime("%Y-%m"),
        str(_q(Decimal(period_s) / 60, "0.1")),
        str(_q(Decimal(outage_s) / 60, "0.1")),
        str(_q(Decimal(excluded_s) / 60, "0.1")),
        "" if uptime is None else str(uptime),
        len(merged),
        listed,
    ]


def _union(intervals: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping intervals merged, so time excluded twice is excluded once."""
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def ad_hoc_price(tariff: dict[str, Any] | None) -> dict[str, Any] | None:
    """The AFIR ad-hoc price of a tariff row (prices excl. VAT as billing announced them, and incl. VAT)."""
    if tariff is None:
        return None
    vat = Decimal(tariff["vat_percent"]) if tariff.get("vat_percent") else Decimal(0)

    def incl(value: str | None) -> str | None:
        return None if value is None else str(_q(Decimal(value) * (100 + vat) / 100, "0.01"))

    return {
        "tariff_id": tariff["tariff_id"],
        "currency": tariff["currency"],
        "price_per_kwh": tariff["energy_price_per_kwh"],
        "price_per_hour": tariff["time_price_per_hour"],
        "session_fee": tariff["session_fee"],
        "vat_percent": tariff["vat_percent"],
        "price_per_kwh_incl_vat": incl(tariff["energy_price_per_kwh"]),
    }


def ocpi_status(ocpp_status: str | None, station_connected: bool) -> str:
    if not station_connected:
        return "UNKNOWN"
    return OCPI_STATUS.get(ocpp_status or "", "UNKNOWN")
