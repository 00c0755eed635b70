"""Uptime of a station (per port, and as one figure) for a period, recomputed from history every time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voltline_diagnostics.domain.status import STATION_WIDE
from voltline_diagnostics.domain.uptime import TARGETS, Interval, Method, down_together, uptime
from voltline_diagnostics.service_layer.context import HealthContext

OUTAGE_STATUSES = {"Faulted": "faulted", "Unavailable": "unavailable"}


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def station_uptime(
    ctx: HealthContext, station_id: str, start: datetime, end: datetime, method: Method = "nevi"
) -> dict[str, Any] | None:
    async with ctx.uow() as uow:
        station = await uow.status.station(station_id)
        if station is None:
            return None
        history = await uow.status.status_history(station_id, start, end)
        presence = await uow.status.presence_history(station_id, start, end)
        exclusions = await uow.exclusions.overlapping(station_id, start, end)
    now = min(ctx.clock(), end)

    def closed(row: dict[str, Any]) -> tuple[datetime, datetime]:
        return row["started_at"], row["ended_at"] or max(now, row["started_at"])

    offline = [(*closed(p), "offline") for p in presence if not p["online"]]
    station_wide = [
        (*closed(h), OUTAGE_STATUSES[h["status"]])
        for h in history
        if h["connector_id"] == STATION_WIDE and h["evse_id"] == STATION_WIDE and h["status"] in OUTAGE_STATUSES
    ]
    ports = sorted({(h["evse_id"], h["connector_id"]) for h in history if h["evse_id"] != STATION_WIDE})
    per_port: dict[tuple[int, int], list[tuple[datetime, datetime, str]]] = {}
    for port in ports or [(STATION_WIDE, STATION_WIDE)]:
        own = [
            (*closed(h), OUTAGE_STATUSES[h["status"]])
            for h in history
            if (h["evse_id"], h["connector_id"]) == port and h["status"] in OUTAGE_STATUSES
        ]
        per_port[port] = [*offline, *station_wide, *own] if ports else [*offline, *station_wide]

    def excluded_for(port: tuple[int, int]) -> list[Interval]:
        return [
            (x["starts_at"], x["ends_at"])
            for x in exclusions
            if x["evse_id"] is None or (x["evse_id"], x["connector_id"] or port[1]) == port
        ]

    target = TARGETS[method]
    results = {port: uptime(start, end, outages, excluded_for(port)) for port, outages in per_port.items()}
    port_out = [
        {
            "evse_id": port[0],
            "connector_id": port[1],
            "uptime_percent": r.uptime_percent,
            "outage_s": r.outage_s,
            "excluded_s": r.excluded_s,
            "meets_target": r.uptime_percent >= target,
        }
        for port, r in results.items()
    ]
    if method == "uk":
        down = down_together([[(a, b) for a, b, _ in outs] for outs in per_port.values()])
        reasons = [(a, b, "all_connectors_down") for a, b in down]
        station_wide_excl = [(x["starts_at"], x["ends_at"]) for x in exclusions if x["evse_id"] is None]
        total = uptime(start, end, reasons, station_wide_excl)
        figure = {
            "uptime_percent": total.uptime_percent,
            "period_s": total.period_s,
            "outage_s": total.outage_s,
            "excluded_s": total.excluded_s,
        }
        evidence = [
            {"from": _iso(o.start), "to": _iso(o.end), "reasons": list(o.reasons), "excluded_s": o.excluded_s}
            for o in total.outages
        ]
    else:
        period = sum(r.period_s for r in results.values())
        outage = sum(r.outage_s for r in results.values())
        excluded = sum(r.excluded_s for r in results.values())
        figure = {
            "uptime_percent": round((period - (outage - excluded)) / period * 100, 3),
            "period_s": period,
            "outage_s": outage,
            "excluded_s": excluded,
        }
        evidence = [
            {
                "evse_id": port[0],
                "connector_id": port[1],
                "from": _iso(o.start),
                "to": _iso(o.end),
                "reasons": list(o.reasons),
                "excluded_s": o.excluded_s,
            }
            for port, r in results.items()
            for o in r.outages
        ]
    return {
        "station_id": station_id,
        "method": method,
        "from": _iso(start),
        "to": _iso(end),
        **figure,
        "target_percent": target,
        "meets_target": figure["uptime_percent"] >= target,
        "outages": evidence,
        "ports": port_out,
        "exclusions": [
            {
                "exclusion_id": x["exclusion_id"],
                "evse_id": x["evse_id"],
                "connector_id": x["connector_id"],
                "from": _iso(x["starts_at"]),
                "to": _iso(x["ends_at"]),
                "reason": x["reason"],
                "note": x["note"],
            }
            for x in exclusions
        ],
    }


async def network_uptime(ctx: HealthContext, start: datetime, end: datetime, method: Method = "nevi") -> dict[str, Any]:
    """Every station's figure and their average (the UK regulation's network figure is such an average)."""
    async with ctx.uow() as uow:
        station_ids = [s["station_id"] for s in await uow.inventory.stations()]
    per_station = [r for sid in station_ids if (r := await station_uptime(ctx, sid, start, end, method)) is not None]
    target = TARGETS[method]
    average = round(sum(r["uptime_percent"] for r in per_station) / len(per_station), 3) if per_station else None
    return {
        "station_id": None,
        "method": method,
        "from": _iso(start),
        "to": _iso(end),
        "uptime_percent": average,
        "period_s": sum(r["period_s"] for r in per_station),
        "outage_s": sum(r["outage_s"] for r in per_station),
        "excluded_s": sum(r["excluded_s"] for r in per_station),
        "target_percent": target,
        "meets_target": average is not None and average >= target,
        "outages": [{"station_id": r["station_id"], **o} for r in per_station for o in r["outages"]],
        "stations": [
            {"station_id": r["station_id"], "uptime_percent": r["uptime_percent"], "meets_target": r["meets_target"]}
            for r in per_station
        ],
    }
