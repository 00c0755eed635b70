"""Reads: KPIs for a station, a group or the whole network over a period, at hour/day/month granularity.

What is stored comes through the `KpiReads` port (`adapters/kpi_reads.py`: the sums are done in SQL);
the capacity, offline and unique-driver arithmetic and the scoring are here.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from voltline_analytics.domain.kpis import Capacity, Co2Factors, kpi_item
from voltline_analytics.domain.measures import Measures, from_micro
from voltline_analytics.domain.timeslots import Granularity, buckets, floor, next_bucket, overlap_s, seconds
from voltline_analytics.service_layer.ports import KpiReads, StationPorts

FAULTED = "Faulted"


@dataclass(frozen=True)
class Scope:
    """station_id, group_id, or neither for the whole network."""

    station_id: str | None = None
    group_id: str | None = None

    @property
    def label(self) -> str:
        return self.station_id or (f"group {self.group_id}" if self.group_id else "network")


_Station = StationPorts  # its old name


async def kpis(
    reads: KpiReads,
    scope: Scope,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    now: datetime,
    co2: Co2Factors,
    default_currency: str,
    *,
    group_buckets: bool = True,
) -> list[dict[str, Any]]:
    """Every bucket in [start, end), empty ones included, as API items. A group's sums and distinct drivers
    come from its materialised buckets (ADR 0035); `group_buckets=False` sums its current members' station
    buckets instead (the reference the materialised ones are tested against)."""
    stored: Granularity = "hour" if granularity == "hour" else "day"
    stations_in: list[str] | None = None
    group: str | None = None
    if scope.station_id:
        stations_in = [scope.station_id]
    elif scope.group_id:
        stations_in = await reads.members(scope.group_id)
        group = scope.group_id if group_buckets else None
    money: dict[datetime, dict[str, Measures]] = defaultdict(dict)
    totals: dict[datetime, Measures] = defaultdict(Measures)
    drivers: dict[datetime, int] = defaultdict(int)
    offline_starts: set[datetime] = set()
    for row in await reads.summed(stored, floor(start, stored), end, stations_in, group):
        bucket = floor(row.bucket_start, granularity)
        if row.offline_s:
            offline_starts.add(row.bucket_start)
        m = Measures.from_row(row)
        totals[bucket].add(m)
        if row.currency:
            money[bucket].setdefault(row.currency, Measures()).add(m)
        drivers[bucket] += row.unique_drivers or 0
    if granularity == "month" or (stations_in is not None and len(stations_in) > 1 and group is None):
        drivers = await _unique_drivers(reads, stations_in, start, end, granularity)
    stations = await reads.stations(stations_in)
    offline = await _offline_port_s(reads, stations, sorted(offline_starts), stored, granularity)
    observed = _Observed(stations)
    items = []
    for bucket in buckets(start, end, granularity):
        bucket_end = next_bucket(bucket, granularity)
        total = totals.get(bucket, Measures())
        capacity = _capacity(stations, observed, bucket, bucket_end, now, offline.get(bucket, 0))
        items.append(kpi_item(bucket, money.get(bucket, {}), total, capacity, drivers.get(bucket, 0), co2,
                              default_currency))  # fmt: skip
    return items


class _Observed:
    """Port-seconds observed in a bucket, from stations' first-seen times (sorted, with prefix sums of ports)."""

    def __init__(self, stations: list[_Station]) -> None:
        seen = sorted((s.first_seen_at, s.ports) for s in stations if s.first_seen_at is not None)
        self.times = [t for t, _ in seen]
        self.ports = [p for _, p in seen]
        self.prefix = [0]
        for p in self.ports:
            self.prefix.append(self.prefix[-1] + p)
        self.open = [s for s in stations if s.offline_since is not None or s.faults_since]
        self.all_ports = sum(s.ports for s in stations)

    def port_s(self, start: datetime, end: datetime, now: datetime) -> int:
        """Stations seen before `start` count whole (up to now); those first seen inside the bucket, partly."""
        full = self.prefix[bisect.bisect_right(self.times, start)]
        total = full * overlap_s(start, end, start, now)
        for i in range(bisect.bisect_right(self.times, start), bisect.bisect_left(self.times, end)):
            total += self.ports[i] * overlap_s(start, end, self.times[i], now)
        return total


def _capacity(stations: list[_Station], observed: _Observed, start: datetime, end: datetime, now: datetime,
              offline_port_s: int) -> Capacity:  # fmt: skip
    """Port-seconds offered and observed (since first seen, until now); outages still open count until now."""
    ports = observed.all_ports
    down = offline_port_s
    for st in observed.open:
        if st.offline_since is not None:
            down += st.ports * overlap_s(start, end, st.offline_since, now)
        for since in st.faults_since:
            down += overlap_s(start, end, since, now)
    return Capacity(port_s=ports * seconds(start, end), observed_port_s=observed.port_s(start, end, now),
                    offline_port_s=down)  # fmt: skip


async def _offline_port_s(
    reads: KpiReads,
    stations: list[_Station],
    starts: list[datetime],
    stored: Granularity,
    granularity: Granularity,
) -> dict[datetime, int]:
    """Closed offline time weighted by each station's ports, read only for the buckets that have any."""
    ports = {s.station_id: s.ports for s in stations}
    found: dict[datetime, int] = defaultdict(int)
    for station_id, bucket_start, offline_s in await reads.offline_s(starts, stored):
        if station_id in ports:
            found[floor(bucket_start, granularity)] += offline_s * ports[station_id]
    return found


async def _unique_drivers(
    reads: KpiReads, stations: list[str] | None, start: datetime, end: datetime, granularity: Granularity
) -> dict[datetime, int]:
    seen: dict[datetime, set[str]] = defaultdict(set)
    for hour, driver_key in await reads.driver_keys(stations, start, end):
        seen[floor(hour, granularity)].add(driver_key)
    return {k: len(v) for k, v in seen.items()}


async def heatmap(reads: KpiReads, scope: Scope, start: datetime, end: datetime) -> dict[str, Any]:
    """Sessions started and occupied hours by hour of week (Monday 00:00 UTC first)."""
    stations: list[str] | None = [scope.station_id] if scope.station_id else None
    sessions = [[0] * 24 for _ in range(7)]
    occupied = [[0] * 24 for _ in range(7)]
    for bucket_start, started, occupied_s in await reads.hourly(stations, start, end, scope.group_id or None):
        day, hour = bucket_start.weekday(), bucket_start.hour
        sessions[day][hour] += started
        occupied[day][hour] += occupied_s
    hours = [[str((Decimal(s) / 3600).quantize(Decimal("0.01"))) for s in day] for day in occupied]
    return {"from": start, "to": end, "scope": scope.label, "sessions": sessions, "occupied_hours": hours}


RANKING_METRICS = ("utilisation", "revenue", "failures", "energy")


async def rankings(
    reads: KpiReads, metric: str, start: datetime, end: datetime, limit: int, now: datetime
) -> dict[str, Any]:
    """Top and bottom stations by a metric over [start, end) (from daily buckets)."""
    totals: dict[str, Measures] = defaultdict(Measures)
    for station_id, measures in await reads.daily_by_station(floor(start, "day"), end):
        totals[station_id].add(measures)
    stations = {s.station_id: s for s in await reads.stations(None)}
    length = seconds(floor(start, "day"), end)
    scored: list[dict[str, Any]] = []
    for station_id, m in totals.items():
        ports = stations[station_id].ports if station_id in stations else 1
        value: Decimal | int
        if metric == "utilisation":
            value = (Decimal(m.occupied_s) * 100 / (ports * length)).quantize(Decimal("0.01")) if length else Decimal(0)
        elif metric == "revenue":
            value = from_micro(m.revenue_incl_vat, "")  # every currency together, as before
        elif metric == "failures":
            value = m.failed_sessions
        else:
            value = (Decimal(m.energy_wh) / 1000).quantize(Decimal("0.001"))
        scored.append({"station_id": station_id, "value": str(value), "_v": value})
    scored.sort(key=lambda x: (-x["_v"], x["station_id"]))
    top = [{k: v for k, v in x.items() if k != "_v"} for x in scored[:limit]]
    bottom = [
        {k: v for k, v in x.items() if k != "_v"}
        for x in sorted(scored, key=lambda x: (x["_v"], x["station_id"]))[:limit]
    ]
    return {"metric": metric, "from": start, "to": end, "top": top, "bottom": bottom}
