"""Reads: KPIs for a station, a group or the whole network over a period, at hour/day/month granularity."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_analytics.adapters import orm
from voltline_analytics.domain.kpis import Capacity, Co2Factors, kpi_item
from voltline_analytics.domain.measures import COUNTERS, MONEY, Measures
from voltline_analytics.domain.timeslots import Granularity, buckets, floor, next_bucket, overlap_s, seconds

FAULTED = "Faulted"


@dataclass(frozen=True)
class Scope:
    """station_id, group_id, or neither for the whole network."""

    station_id: str | None = None
    group_id: str | None = None

    @property
    def label(self) -> str:
        return self.station_id or (f"group {self.group_id}" if self.group_id else "network")


@dataclass
class _Station:
    station_id: str
    ports: int
    first_seen_at: datetime | None
    offline_since: datetime | None
    faults_since: list[datetime]


async def members(session: AsyncSession, group_id: str) -> list[str]:
    g = orm.station_groups.c
    rows = await session.execute(select(g.station_id).where(g.group_id == group_id).order_by(g.station_id))
    return [r.station_id for r in rows]


async def _stations(session: AsyncSession, only: list[str] | None) -> list[_Station]:
    s, p = orm.stations.c, orm.ports.c
    station_q, port_q = select(orm.stations), select(p.station_id, p.ocpp_status, p.since)
    if only is not None:
        station_q, port_q = station_q.where(s.station_id.in_(only)), port_q.where(p.station_id.in_(only))
    found: dict[str, _Station] = {}
    for row in await session.execute(station_q):
        offline = None if row.connected else row.since
        found[row.station_id] = _Station(row.station_id, 0, row.first_seen_at, offline, [])
    for row in await session.execute(port_q):
        st = found.setdefault(row.station_id, _Station(row.station_id, 0, None, None, []))
        st.ports += 1
        if row.ocpp_status == FAULTED and row.since is not None:
            st.faults_since.append(row.since)
    for station in only or ():
        found.setdefault(station, _Station(station, 0, None, None, []))
    for st in found.values():
        st.ports = max(1, st.ports)
    return sorted(found.values(), key=lambda x: x.station_id)


async def kpis(
    session: AsyncSession,
    scope: Scope,
    start: datetime,
    end: datetime,
    granularity: Granularity,
    now: datetime,
    co2: Co2Factors,
    default_currency: str,
) -> list[dict[str, Any]]:
    """Every bucket in [start, end), empty ones included, as API items."""
    stored: Granularity = "hour" if granularity == "hour" else "day"
    stations_in: list[str] | None = None
    if scope.station_id:
        stations_in = [scope.station_id]
    elif scope.group_id:
        stations_in = await members(session, scope.group_id)
    money: dict[datetime, dict[str, Measures]] = defaultdict(dict)
    totals: dict[datetime, Measures] = defaultdict(Measures)
    drivers: dict[datetime, int] = defaultdict(int)
    b = orm.buckets.c
    where = [b.granularity == stored, b.bucket_start >= floor(start, stored), b.bucket_start < end]
    if stations_in is None:
        where.append(b.scope == "network")
    else:
        where += [b.scope == "station", b.scope_id.in_(stations_in or [""])]
    offline_starts: set[datetime] = set()
    for row in await _summed(session, where):
        bucket = floor(row.bucket_start, granularity)
        if row.offline_s:
            offline_starts.add(row.bucket_start)
        m = Measures.from_row(row)
        totals[bucket].add(m)
        if row.currency:
            money[bucket].setdefault(row.currency, Measures()).add(m)
        drivers[bucket] += row.unique_drivers or 0
    if granularity == "month" or (stations_in is not None and len(stations_in) > 1):
        drivers = await _unique_drivers(session, stations_in, start, end, granularity)
    stations = await _stations(session, stations_in)
    offline = await _offline_port_s(session, stations, sorted(offline_starts), stored, granularity)
    observed = _Observed(stations)
    items = []
    for bucket in buckets(start, end, granularity):
        bucket_end = next_bucket(bucket, granularity)
        total = totals.get(bucket, Measures())
        capacity = _capacity(stations, observed, bucket, bucket_end, now, offline.get(bucket, 0))
        items.append(kpi_item(bucket, money.get(bucket, {}), total, capacity, drivers.get(bucket, 0), co2,
                              default_currency))  # fmt: skip
    return items


async def _summed(session: AsyncSession, where: list[Any]) -> list[Any]:
    """The buckets matching `where`, summed per (bucket_start, currency) in SQL: a group of 1,000 stations over a
    year is 365,000 rows, which the database sums far faster than Python. Money is exact decimal text:
    PostgreSQL sums it as NUMERIC; on SQLite the few rows that hold money are summed here, in Decimal."""
    b = orm.buckets.c
    exact = session.get_bind().dialect.name == "postgresql"
    money = [(func.sum(cast(b[n], Numeric)) if exact else literal_column("'0'")).label(n) for n in MONEY]
    q = (
        select(
            b.bucket_start,
            b.currency,
            *(cast(func.sum(b[n]), BigInteger).label(n) for n in COUNTERS),
            func.max(b.peak_power_w).label("peak_power_w"),
            cast(func.sum(b.unique_drivers), BigInteger).label("unique_drivers"),
            *money,
        )
        .where(*where)
        .group_by(b.bucket_start, b.currency)
    )
    rows = [dict(r._mapping) for r in await session.execute(q)]
    if not exact:
        sums: dict[tuple[datetime, str], dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(MONEY, Decimal(0)))
        money_q = select(b.bucket_start, b.currency, *(b[n] for n in MONEY)).where(*where, b.currency != "")
        for r in await session.execute(money_q):
            held = sums[(r.bucket_start, r.currency)]
            for n in MONEY:
                held[n] += Decimal(str(getattr(r, n)))
        for row in rows:
            if row["currency"]:
                row.update({n: str(v) for n, v in sums[(row["bucket_start"], row["currency"])].items()})
    return [_Row(r) for r in rows]


class _Row(dict[str, Any]):
    """A summed bucket, readable by attribute like a result row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


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
    session: AsyncSession,
    stations: list[_Station],
    starts: list[datetime],
    stored: Granularity,
    granularity: Granularity,
) -> dict[datetime, int]:
    """Closed offline time weighted by each station's ports, read only for the buckets that have any."""
    ports = {s.station_id: s.ports for s in stations}
    b = orm.buckets.c
    found: dict[datetime, int] = defaultdict(int)
    for i in range(0, len(starts), 400):
        q = select(b.scope_id, b.bucket_start, b.offline_s).where(
            b.scope == "station", b.granularity == stored, b.bucket_start.in_(starts[i : i + 400]), b.offline_s > 0
        )
        for row in await session.execute(q):
            if row.scope_id in ports:
                found[floor(row.bucket_start, granularity)] += row.offline_s * ports[row.scope_id]
    return found


async def _unique_drivers(
    session: AsyncSession, stations: list[str] | None, start: datetime, end: datetime, granularity: Granularity
) -> dict[datetime, int]:
    c = orm.contributions.c
    q = select(c.hour, c.driver_key).where(c.driver_key.is_not(None), c.hour >= start, c.hour < end)
    if stations is not None:
        q = q.where(c.station_id.in_(stations or [""]))
    seen: dict[datetime, set[str]] = defaultdict(set)
    for row in await session.execute(q):
        seen[floor(row.hour, granularity)].add(row.driver_key)
    return {k: len(v) for k, v in seen.items()}


async def heatmap(session: AsyncSession, scope: Scope, start: datetime, end: datetime) -> dict[str, Any]:
    """Sessions started and occupied hours by hour of week (Monday 00:00 UTC first)."""
    b = orm.buckets.c
    q = select(b.bucket_start, b.sessions, b.occupied_s).where(
        b.granularity == "hour", b.bucket_start >= start, b.bucket_start < end, b.currency == ""
    )
    if scope.station_id:
        q = q.where(b.scope == "station", b.scope_id == scope.station_id)
    elif scope.group_id:
        q = q.where(b.scope == "station", b.scope_id.in_(await members(session, scope.group_id) or [""]))
    else:
        q = q.where(b.scope == "network")
    sessions = [[0] * 24 for _ in range(7)]
    occupied = [[0] * 24 for _ in range(7)]
    for row in await session.execute(q):
        day, hour = row.bucket_start.weekday(), row.bucket_start.hour
        sessions[day][hour] += row.sessions
        occupied[day][hour] += row.occupied_s
    hours = [[str((Decimal(s) / 3600).quantize(Decimal("0.01"))) for s in day] for day in occupied]
    return {"from": start, "to": end, "scope": scope.label, "sessions": sessions, "occupied_hours": hours}


RANKING_METRICS = ("utilisation", "revenue", "failures", "energy")


async def rankings(
    session: AsyncSession, metric: str, start: datetime, end: datetime, limit: int, now: datetime
) -> dict[str, Any]:
    """Top and bottom stations by a metric over [start, end) (from daily buckets)."""
    b = orm.buckets.c
    q = select(orm.buckets).where(
        b.scope == "station", b.granularity == "day", b.bucket_start >= floor(start, "day"), b.bucket_start < end
    )
    totals: dict[str, Measures] = defaultdict(Measures)
    for row in await session.execute(q):
        totals[row.scope_id].add(Measures.from_row(row))
    stations = {s.station_id: s for s in await _stations(session, None)}
    length = seconds(floor(start, "day"), end)
    scored: list[dict[str, Any]] = []
    for station_id, m in totals.items():
        ports = stations[station_id].ports if station_id in stations else 1
        value: Decimal | int
        if metric == "utilisation":
            value = (Decimal(m.occupied_s) * 100 / (ports * length)).quantize(Decimal("0.01")) if length else Decimal(0)
        elif metric == "revenue":
            value = m.revenue_incl_vat
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
