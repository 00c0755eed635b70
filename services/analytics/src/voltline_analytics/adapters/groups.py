"""Group buckets (ADR 0035): a group's hour and day buckets and driver counts, materialised like the network's.

The worker adds each contribution to the buckets of every group its station is in now (`membership`, read at
each batch when it changed). A membership change brings the group's buckets to its members' sums in the same
transaction (`set_members`: the changed stations' buckets added or taken out, or a rebuild from all members), so
a group's buckets always equal the sum of its current members' (what the query-time sum over members gave).
On PostgreSQL the two take one advisory lock (the worker shared, a change exclusive): a change waits for the
batch being written and the next batch waits for the change, then reads the new members. SQLite's write
transactions (BEGIN IMMEDIATE) are serial already.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_analytics.adapters import orm
from voltline_analytics.domain.measures import SUMMED

LOCK = 1_505_350_035  # pg_advisory_xact_lock key: group membership vs the worker's bucket writes


@dataclass
class Membership:
    """Which groups each station is in (the worker's copy), and the version it was read at."""

    version: int = -1
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # station -> its groups

    def members(self, group_id: str) -> list[str]:
        return sorted(s for s, groups in self.groups.items() if group_id in groups)


async def _version(session: AsyncSession) -> int:
    v = orm.group_versions.c
    return int((await session.execute(select(v.version).where(v.id == 1))).scalar() or 0)


async def membership(session: AsyncSession, held: Membership) -> Membership:
    """The membership in force for this transaction's bucket writes (call before the first of them): on
    PostgreSQL after taking the lock shared; reread (the whole small table, not the store) only when its
    version moved."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock_shared({LOCK})"))
    version = await _version(session)
    if version == held.version:
        return held
    if version == 0:  # no group was ever set
        return Membership(0, {})
    g = orm.station_groups.c
    found: dict[str, list[str]] = defaultdict(list)
    for row in await session.execute(select(g.station_id, g.group_id).order_by(g.group_id)):
        found[row.station_id].append(row.group_id)
    return Membership(version, {s: tuple(groups) for s, groups in found.items()})


async def set_members(session: AsyncSession, group_id: str, stations: list[str]) -> None:
    """Replace a group's members (none: the group is gone) and bring its buckets to the sums of theirs, inside
    the caller's transaction: the joining stations' buckets added and the leaving ones' taken out when fewer
    stations change than stay, else a rebuild from all members; nothing to do when the members are the same."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({LOCK})"))
    g = orm.station_groups.c
    held = {r.station_id for r in await session.execute(select(g.station_id).where(g.group_id == group_id))}
    joined, left = sorted(set(stations) - held), sorted(held - set(stations))
    if not joined and not left:
        return
    await session.execute(delete(orm.station_groups).where(g.group_id == group_id))
    if stations:
        await session.execute(insert(orm.station_groups), [{"group_id": group_id, "station_id": s} for s in stations])
    if len(joined) + len(left) < len(held & set(stations)):
        await _delta(session, group_id, joined, left)
    else:
        await rebuild(session, group_id)
    version = await _version(session)
    v = orm.group_versions
    if version:
        await session.execute(v.update().where(v.c.id == 1).values(version=version + 1))
    else:
        await session.execute(insert(v).values(id=1, version=1))


_SUMS = ", ".join(f"SUM(b.{name})" for name in SUMMED)
_REBUILD = (
    "DELETE FROM bucket_drivers WHERE scope = 'group' AND scope_id = :g",
    "DELETE FROM buckets WHERE scope = 'group' AND scope_id = :g",
    f"INSERT INTO buckets (scope, scope_id, granularity, bucket_start, currency, {', '.join(SUMMED)}, peak_power_w, "
    f"unique_drivers) SELECT 'group', :g, b.granularity, b.bucket_start, b.currency, {_SUMS}, MAX(b.peak_power_w), 0 "
    "FROM buckets b JOIN station_groups m ON m.group_id = :g AND m.station_id = b.scope_id "
    "WHERE b.scope = 'station' GROUP BY b.granularity, b.bucket_start, b.currency",
    "INSERT INTO bucket_drivers (scope, scope_id, granularity, bucket_start, driver_key, refs) "
    "SELECT 'group', :g, d.granularity, d.bucket_start, d.driver_key, SUM(d.refs) "
    "FROM bucket_drivers d JOIN station_groups m ON m.group_id = :g AND m.station_id = d.scope_id "
    "WHERE d.scope = 'station' GROUP BY d.granularity, d.bucket_start, d.driver_key",
    "UPDATE buckets SET unique_drivers = (SELECT COUNT(*) FROM bucket_drivers d WHERE d.scope = 'group' "
    "AND d.scope_id = :g AND d.granularity = buckets.granularity AND d.bucket_start = buckets.bucket_start) "
    "WHERE scope = 'group' AND scope_id = :g AND currency = ''",
)


async def rebuild(session: AsyncSession, group_id: str) -> None:
    """The group's buckets and driver counts = the sums of its members' station buckets and counts (peaks the
    maximum; distinct drivers counted over the summed counts), as the worker would have kept them."""
    for statement in _REBUILD:
        await session.execute(text(statement), {"g": group_id})


def _in(column: str, n: int) -> str:
    return f"{column} IN ({', '.join(f':s{i}' for i in range(n))})"


async def _delta(session: AsyncSession, group_id: str, joined: list[str], left: list[str]) -> None:
    """Add the joining stations' buckets and driver counts to the group's, take the leaving ones' out (the
    members are already the new ones); then recount the distinct drivers and the peaks they may have changed,
    and drop the buckets and counts that went to nothing. Costs the changed stations' history only."""
    greatest = "GREATEST" if session.get_bind().dialect.name == "postgresql" else "MAX"
    changed = [*joined, *left]
    for sign, stations in ((1, joined), (-1, left)):
        for i in range(0, len(stations), 500):
            chunk = stations[i : i + 500]
            params = {"g": group_id, **{f"s{n}": s for n, s in enumerate(chunk)}}
            sums = ", ".join(f"{sign} * SUM({name})" for name in SUMMED)
            peak = "MAX(peak_power_w)" if sign > 0 else "0"
            added = ", ".join(f"{name} = buckets.{name} + excluded.{name}" for name in SUMMED)
            await session.execute(text(
                f"INSERT INTO buckets (scope, scope_id, granularity, bucket_start, currency, {', '.join(SUMMED)}, "
                f"peak_power_w, unique_drivers) SELECT 'group', :g, granularity, bucket_start, currency, {sums}, "
                f"{peak}, 0 FROM buckets WHERE scope = 'station' AND {_in('scope_id', len(chunk))} "
                "GROUP BY granularity, bucket_start, currency "
                f"ON CONFLICT (scope, scope_id, granularity, bucket_start, currency) DO UPDATE SET {added}, "
                f"peak_power_w = {greatest}(buckets.peak_power_w, excluded.peak_power_w)"), params)  # fmt: skip
            await session.execute(text(
                "INSERT INTO bucket_drivers (scope, scope_id, granularity, bucket_start, driver_key, refs) "
                f"SELECT 'group', :g, granularity, bucket_start, driver_key, {sign} * SUM(refs) FROM bucket_drivers "
                f"WHERE scope = 'station' AND {_in('scope_id', len(chunk))} "
                "GROUP BY granularity, bucket_start, driver_key "
                "ON CONFLICT (scope, scope_id, granularity, bucket_start, driver_key) "
                "DO UPDATE SET refs = bucket_drivers.refs + excluded.refs"), params)  # fmt: skip
    await session.execute(text("DELETE FROM bucket_drivers WHERE scope = 'group' AND scope_id = :g AND refs <= 0"),
                          {"g": group_id})  # fmt: skip
    for i in range(0, len(changed), 500):
        chunk = changed[i : i + 500]
        params = {"g": group_id, **{f"s{n}": s for n, s in enumerate(chunk)}}
        await session.execute(text(
            "UPDATE buckets SET unique_drivers = (SELECT COUNT(*) FROM bucket_drivers d WHERE d.scope = 'group' "
            "AND d.scope_id = :g AND d.granularity = buckets.granularity AND d.bucket_start = buckets.bucket_start) "
            "WHERE scope = 'group' AND scope_id = :g AND currency = '' AND EXISTS (SELECT 1 FROM bucket_drivers c "
            f"WHERE c.scope = 'station' AND {_in('c.scope_id', len(chunk))} AND c.granularity = buckets.granularity "
            "AND c.bucket_start = buckets.bucket_start)"), params)  # fmt: skip
        if any(s in left for s in chunk):  # a peak the leaving stations held is recounted over the members
            await session.execute(text(
                "UPDATE buckets SET peak_power_w = COALESCE((SELECT MAX(s.peak_power_w) FROM buckets s "
                "JOIN station_groups m ON m.group_id = :g AND m.station_id = s.scope_id WHERE s.scope = 'station' "
                "AND s.granularity = buckets.granularity AND s.bucket_start = buckets.bucket_start "
                "AND s.currency = buckets.currency), 0) WHERE scope = 'group' AND scope_id = :g AND EXISTS "
                f"(SELECT 1 FROM buckets l WHERE l.scope = 'station' AND {_in('l.scope_id', len(chunk))} "
                "AND l.granularity = buckets.granularity AND l.bucket_start = buckets.bucket_start "
                "AND l.currency = buckets.currency AND l.peak_power_w > 0 "
                "AND l.peak_power_w >= buckets.peak_power_w)"), params)  # fmt: skip
    zero = " AND ".join(f"{name} = 0" for name in (*SUMMED, "peak_power_w", "unique_drivers"))
    await session.execute(text(f"DELETE FROM buckets WHERE scope = 'group' AND scope_id = :g AND {zero}"),
                          {"g": group_id})  # fmt: skip
