"""The KPI reads (service_layer.ports.KpiReads) over SQLAlchemy, and the queries bound to a session.

Sums over buckets are done by the database (a group's buckets are materialised, ADR 0035: its year is 365 rows,
not its stations' 365,000); the arithmetic on top of them is the service layer's (`service_layer/queries.py`).
`kpis(session, ...)`, `heatmap`, `rankings` and `members` are the queries over one session, as the routes call
them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_analytics.adapters import orm
from voltline_analytics.domain.kpis import Co2Factors
from voltline_analytics.domain.measures import COUNTERS, MONEY, Measures
from voltline_analytics.domain.timeslots import Granularity
from voltline_analytics.service_layer import queries
from voltline_analytics.service_layer.ports import StationPorts
from voltline_analytics.service_layer.queries import FAULTED, RANKING_METRICS, Scope

__all__ = ["RANKING_METRICS", "Scope", "SqlKpiReads", "heatmap", "kpis", "members", "rankings"]


class SqlKpiReads:
    """service_layer.ports.KpiReads over one SQLAlchemy session."""

    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def members(self, group_id: str) -> list[str]:
        return await _members(self._db, group_id)

    async def stations(self, only: list[str] | None) -> list[StationPorts]:
        return await _stations(self._db, only)

    async def summed(
        self,
        stored: Granularity,
        start: datetime,
        end: datetime,
        stations: list[str] | None,
        group_id: str | None = None,
    ) -> list[Any]:
        b = orm.buckets.c
        where = [b.granularity == stored, b.bucket_start >= start, b.bucket_start < end, *_scope(stations, group_id)]
        return await _summed(self._db, where)

    async def offline_s(self, starts: list[datetime], stored: Granularity) -> list[tuple[str, datetime, int]]:
        b = orm.buckets.c
        found: list[tuple[str, datetime, int]] = []
        for i in range(0, len(starts), 400):
            q = select(b.scope_id, b.bucket_start, b.offline_s).where(
                b.scope == "station", b.granularity == stored, b.bucket_start.in_(starts[i : i + 400]), b.offline_s > 0
            )
            found += [(row.scope_id, row.bucket_start, row.offline_s) for row in await self._db.execute(q)]
        return found

    async def driver_keys(
        self, stations: list[str] | None, start: datetime, end: datetime
    ) -> list[tuple[datetime, str]]:
        c = orm.contributions.c
        q = select(c.hour, c.driver_key).where(c.driver_key.is_not(None), c.hour >= start, c.hour < end)
        if stations is not None:
            q = q.where(c.station_id.in_(stations or [""]))
        return [(row.hour, row.driver_key) for row in await self._db.execute(q)]

    async def hourly(
        self, stations: list[str] | None, start: datetime, end: datetime, group_id: str | None = None
    ) -> list[tuple[datetime, int, int]]:
        b = orm.buckets.c
        q = select(b.bucket_start, b.sessions, b.occupied_s).where(
            b.granularity == "hour", b.bucket_start >= start, b.bucket_start < end, b.currency == "",
            *_scope(stations, group_id),
        )  # fmt: skip
        return [(row.bucket_start, row.sessions, row.occupied_s) for row in await self._db.execute(q)]

    async def daily_by_station(self, start: datetime, end: datetime) -> list[tuple[str, Measures]]:
        b = orm.buckets.c
        q = select(orm.buckets).where(
            b.scope == "station", b.granularity == "day", b.bucket_start >= start, b.bucket_start < end
        )
        return [(row.scope_id, Measures.from_row(row)) for row in await self._db.execute(q)]


def _scope(stations: list[str] | None, group_id: str | None) -> list[Any]:
    """The buckets of a group (materialised, ADR 0035), else of `stations`, else the network's."""
    b = orm.buckets.c
    if group_id is not None:
        return [b.scope == "group", b.scope_id == group_id]
    if stations is None:
        return [b.scope == "network"]
    return [b.scope == "station", b.scope_id.in_(stations or [""])]


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
    return await queries.kpis(SqlKpiReads(session), scope, start, end, granularity, now, co2, default_currency)


async def heatmap(session: AsyncSession, scope: Scope, start: datetime, end: datetime) -> dict[str, Any]:
    return await queries.heatmap(SqlKpiReads(session), scope, start, end)


async def rankings(
    session: AsyncSession, metric: str, start: datetime, end: datetime, limit: int, now: datetime
) -> dict[str, Any]:
    return await queries.rankings(SqlKpiReads(session), metric, start, end, limit, now)


async def members(session: AsyncSession, group_id: str) -> list[str]:
    return await _members(session, group_id)


async def _members(session: AsyncSession, group_id: str) -> list[str]:
    g = orm.station_groups.c
    rows = await session.execute(select(g.station_id).where(g.group_id == group_id).order_by(g.station_id))
    return [r.station_id for r in rows]


async def _stations(session: AsyncSession, only: list[str] | None) -> list[StationPorts]:
    s, p = orm.stations.c, orm.ports.c
    station_q, port_q = select(orm.stations), select(p.station_id, p.ocpp_status, p.since)
    if only is not None:
        station_q, port_q = station_q.where(s.station_id.in_(only)), port_q.where(p.station_id.in_(only))
    found: dict[str, StationPorts] = {}
    for row in await session.execute(station_q):
        offline = None if row.connected else row.since
        found[row.station_id] = StationPorts(row.station_id, 0, row.first_seen_at, offline, [])
    for row in await session.execute(port_q):
        st = found.setdefault(row.station_id, StationPorts(row.station_id, 0, None, None, []))
        st.ports += 1
        if row.ocpp_status == FAULTED and row.since is not None:
            st.faults_since.append(row.since)
    for station in only or ():
        found.setdefault(station, StationPorts(station, 0, None, None, []))
    for st in found.values():
        st.ports = max(1, st.ports)
    return sorted(found.values(), key=lambda x: x.station_id)


async def _summed(session: AsyncSession, where: list[Any]) -> list[Any]:
    """The buckets matching `where`, summed per (bucket_start, currency) in SQL (many stations' buckets: the
    database sums them far faster than Python; a group's or the network's: one row each). Money is integer
    micro-units, so the database sums it exactly on every dialect."""
    b = orm.buckets.c
    q = (
        select(
            b.bucket_start,
            b.currency,
            *(cast(func.sum(b[n]), BigInteger).label(n) for n in (*COUNTERS, *MONEY)),
            func.max(b.peak_power_w).label("peak_power_w"),
            cast(func.sum(b.unique_drivers), BigInteger).label("unique_drivers"),
        )
        .where(*where)
        .group_by(b.bucket_start, b.currency)
    )
    return [_Row(r._mapping) for r in await session.execute(q)]


class _Row(dict[str, Any]):
    """A summed bucket, readable by attribute like a result row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
