"""Recomputes materialised buckets (station and network, hour and day) from the contributions beneath them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_analytics.adapters import orm
from voltline_analytics.domain.measures import COUNTERS, MAXIMA, MONEY, Measures
from voltline_analytics.domain.timeslots import DAY, HOUR, floor

NETWORK = ""
Key = tuple[str, datetime, str]  # (scope_id, bucket_start, currency)


async def recompute(session: AsyncSession, touched: set[tuple[str, datetime]]) -> None:
    if not touched:
        return
    station_days: dict[str, set[datetime]] = defaultdict(set)
    hours: set[datetime] = set()
    for station, hour in touched:
        station_days[station].add(floor(hour, "day"))
        hours.add(hour)
    days = {d for ds in station_days.values() for d in ds}
    for station, sdays in sorted(station_days.items()):
        await _station(session, station, sorted(sdays))
    await _network(session, sorted(hours), sorted(days))


async def _station(session: AsyncSession, station: str, days: list[datetime]) -> None:
    c = orm.contributions.c
    hourly: dict[Key, Measures] = {}
    daily: dict[Key, Measures] = {}
    drivers_h: dict[Key, set[str]] = defaultdict(set)
    drivers_d: dict[Key, set[str]] = defaultdict(set)
    for day in days:
        rows = await session.execute(
            select(orm.contributions).where(c.station_id == station, c.hour >= day, c.hour < day + DAY)
        )
        for row in rows:
            m = Measures.from_row(row)
            for target, drivers, start in ((hourly, drivers_h, row.hour), (daily, drivers_d, day)):
                key = (station, start, row.currency)
                target.setdefault(key, Measures()).add(m)
                if row.driver_key:
                    drivers[(station, start, "")].add(row.driver_key)
    b = orm.buckets.c
    for day in days:
        await session.execute(
            delete(orm.buckets).where(
                b.scope == "station", b.scope_id == station, b.bucket_start >= day, b.bucket_start < day + DAY
            )
        )
    rows = [_row("station", "hour", k, m, drivers_h) for k, m in hourly.items()]
    rows += [_row("station", "day", k, m, drivers_d) for k, m in daily.items()]
    if rows:
        await session.execute(insert(orm.buckets), rows)


async def _network(session: AsyncSession, hours: list[datetime], days: list[datetime]) -> None:
    b = orm.buckets.c
    rows: list[dict[str, Any]] = []
    for granularity, starts, length in (("hour", hours, HOUR), ("day", days, DAY)):
        for start in starts:
            sums: dict[Key, Measures] = {}
            found = await session.execute(
                select(orm.buckets).where(b.scope == "station", b.granularity == granularity, b.bucket_start == start)
            )
            for row in found:
                sums.setdefault((NETWORK, start, row.currency), Measures()).add(Measures.from_row(row))
            c = orm.contributions.c
            drivers = await session.execute(
                select(c.driver_key)
                .where(and_(c.hour >= start, c.hour < start + length, c.driver_key.is_not(None)))
                .distinct()
            )
            unique = {(NETWORK, start, ""): {r.driver_key for r in drivers}}
            rows += [_row("network", granularity, k, m, unique) for k, m in sums.items()]
        for chunk in [starts[i : i + 500] for i in range(0, len(starts), 500)]:
            await session.execute(
                delete(orm.buckets).where(b.scope == "network", b.granularity == granularity, b.bucket_start.in_(chunk))
            )
    if rows:
        await session.execute(insert(orm.buckets), rows)


def _row(scope: str, granularity: str, key: Key, m: Measures, drivers: dict[Key, set[str]]) -> dict[str, Any]:
    scope_id, start, currency = key
    row: dict[str, Any] = {"scope": scope, "scope_id": scope_id, "granularity": granularity,
                           "bucket_start": start, "currency": currency}  # fmt: skip
    row.update({name: getattr(m, name) for name in (*COUNTERS, *MAXIMA)})
    row.update({name: str(getattr(m, name)) for name in MONEY})
    row["unique_drivers"] = len(drivers.get((scope_id, start, ""), ())) if currency == "" else 0
    return row
