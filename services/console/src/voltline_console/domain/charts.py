"""Shapes the pages draw: a status timeline, a session's power/energy series, positions (no I/O here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Segment:
    """One status interval as a share of the period: `x` and `width` are per mille of the timeline's width."""

    status: str
    x: int
    width: int
    start: str
    end: str | None
    error_code: str | None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    connector: str
    segments: list[Segment]


def timeline(history: Mapping[str, Any], now: datetime) -> list[TimelineRow]:
    """Connector rows of diagnostics' `/stations/{id}/history`; an open interval (`to` null) runs until `now`.

    The timeline starts at the period's start or at the first interval reported, whichever is later."""
    start, end = parse_time(history.get("from")), parse_time(history.get("to")) or now
    firsts = [t for t in (parse_time(i.get("from")) for i in history.get("items") or ()) if t is not None]
    if start is not None and firsts:
        start = max(start, min(firsts))  # a young station's timeline spans its own history, not an empty day
    if start is None or end <= start:
        return []
    span = (end - start).total_seconds()
    rows: dict[str, list[Segment]] = {}
    for item in history.get("items") or ():
        began, ended = parse_time(item.get("from")), parse_time(item.get("to")) or now
        if began is None:
            continue
        began, ended = max(began, start), min(ended, end)
        if ended <= began:
            continue
        x = round((began - start).total_seconds() / span * 1000)
        width = max(1, round((ended - began).total_seconds() / span * 1000))
        name = f"{item.get('evse_id')}/{item.get('connector_id')}"
        rows.setdefault(name, []).append(
            Segment(str(item.get("status") or "Unknown"), x, width, str(item.get("from")), item.get("to"),
                    item.get("error_code"))
        )  # fmt: skip
    return [TimelineRow(name, segments) for name, segments in sorted(rows.items())]


def _number(value: Any) -> float | None:
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def session_series(items: Iterable[Mapping[str, Any]]) -> dict[str, list[float | None]]:
    """Unix seconds, power (kW) and session energy (kWh) per reading time, for the chart (floats: display only)."""
    points: dict[float, dict[str, float | None]] = {}
    for item in items:
        at = parse_time(item.get("at"))
        if at is None:
            continue
        point = points.setdefault(at.timestamp(), {"power_kw": None, "energy_kwh": None})
        measurand = item.get("measurand")
        if measurand == POWER:
            value = _number(item.get("value"))
            scale = 1.0 if str(item.get("unit")) == "kW" else 0.001
            point["power_kw"] = None if value is None else round(value * scale, 3)
        elif measurand == ENERGY and item.get("energy_wh") is not None:
            value = _number(item.get("energy_wh"))
            point["energy_kwh"] = None if value is None else round(value / 1000, 3)
    times = sorted(points)
    return {
        "t": [float(t) for t in times],
        "power_kw": [points[t]["power_kw"] for t in times],
        "energy_kwh": [points[t]["energy_kwh"] for t in times],
    }


def coordinates(station: Mapping[str, Any]) -> tuple[float, float] | None:
    """A position (`coordinates.latitude/longitude`, as diagnostics' locations, `location.` or top-level) within
    range, else None."""
    for source in (station.get("location"), station.get("coordinates"), station):
        if isinstance(source, Mapping):
            lat, lon = _number(source.get("latitude")), _number(source.get("longitude"))
            if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
                return lat, lon
    return None


@dataclass(frozen=True, slots=True)
class KpiSeries:
    """Per-day points for the charts (floats, for drawing) and the period's figures (exact Decimals)."""

    t: list[float]
    values: dict[str, list[float | None]]
    totals: dict[str, Decimal]  # energy, revenue: summed
    averages: dict[str, Decimal | None]  # utilisation, uptime: mean of the days that have a figure


SUMMED = ("energy_kwh", "revenue_incl_vat")
AVERAGED = ("utilisation_percent", "uptime_percent")


def kpi_series(buckets: Iterable[Mapping[str, Any]]) -> KpiSeries:
    """Analytics' `/kpis` buckets as chart series, with totals and averages that never went through a float."""
    t: list[float] = []
    values: dict[str, list[float | None]] = {k: [] for k in (*SUMMED, *AVERAGED)}
    exact: dict[str, list[Decimal]] = {k: [] for k in values}
    for bucket in buckets:
        moment = parse_time(bucket.get("bucket_start"))
        if moment is None:
            continue
        t.append(moment.timestamp())
        for key in values:
            raw = bucket.get(key)
            number = None if raw is None else _decimal(raw)
            values[key].append(None if number is None else float(number))
            if number is not None:
                exact[key].append(number)
    totals = {k: sum(exact[k], Decimal(0)) for k in SUMMED}
    averages = {
        k: (sum(exact[k], Decimal(0)) / len(exact[k])).quantize(Decimal("0.1")) if exact[k] else None for k in AVERAGED
    }
    return KpiSeries(t, values, totals, averages)


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None
