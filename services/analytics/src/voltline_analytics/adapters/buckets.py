"""Maintains the materialised buckets (station, group and network, hour and day) from contribution deltas.

A batch's facts remove their previous contributions and add their new ones; the sums of every bucket they
touch change by exactly that difference (exact integers and decimals, so order never matters), a peak that
may have dropped is recomputed from the contributions left, and unique drivers are reference-counted per
bucket. A bucket that returns to all zeros is deleted, so the store equals one built in a single pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from operator import add, itemgetter
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_analytics.adapters import orm
from voltline_analytics.adapters.bulk import insert_many, select_by_keys, upsert_returning
from voltline_analytics.adapters.groups import Membership
from voltline_analytics.domain.measures import COUNTERS, MAXIMA, MONEY, SUMMED, Contribution
from voltline_analytics.domain.timeslots import DAY, HOUR, floor

NETWORK = ""
Key = tuple[str, str, str, datetime, str]  # scope, scope_id, granularity, bucket_start, currency
DriverKey = tuple[str, str, str, datetime, str]  # scope, scope_id, granularity, bucket_start, driver_key


_SUMS = itemgetter(*SUMMED)  # a contribution's sums as one tuple, in SUMMED order
_REMOVAL, _PEAK_MAY_DROP = 1, 2
_days: dict[datetime, datetime] = {}  # hour -> its day (hours repeat across a batch: floor each once)


def _keys(c: Contribution) -> list[Key]:
    day = _days.get(c.hour)
    if day is None:
        if len(_days) > 100_000:
            _days.clear()
        day = _days[c.hour] = floor(c.hour, "day")
    return [
        ("station", c.station_id, "hour", c.hour, c.currency),
        ("station", c.station_id, "day", day, c.currency),
        ("network", NETWORK, "hour", c.hour, c.currency),
        ("network", NETWORK, "day", day, c.currency),
    ]


def _add_groups(
    groups: dict[str, tuple[str, ...]],
    sums: dict[Key, list[int]],
    peaks: dict[Key, float],
    flags: dict[Key, int],
    drivers: dict[DriverKey, int],
) -> None:
    """Each group's bucket changes = the sums of its members' station bucket changes (ADR 0035): summed from the
    batch's station buckets, not per contribution (a station's hour gathers several contributions); peaks the
    maximum, flags either's, driver reference changes summed."""
    for key, values in [(k, v) for k, v in sums.items() if k[0] == "station" and k[1] in groups]:
        _, station_id, granularity, start, currency = key
        peak, flag = peaks[key], flags.get(key, 0)
        for group_id in groups[station_id]:
            group_key: Key = ("group", group_id, granularity, start, currency)
            held = sums.get(group_key)
            if held is None:  # shared, never changed in place: a sum is a new list
                sums[group_key], peaks[group_key] = values, peak
            else:
                sums[group_key] = list(map(add, held, values))
                if peak > peaks[group_key]:
                    peaks[group_key] = peak
            if flag:
                flags[group_key] = flags.get(group_key, 0) | flag
    for driver, change in [(k, v) for k, v in drivers.items() if k[0] == "station" and k[1] in groups]:
        for group_id in groups[driver[1]]:
            drivers[("group", group_id, driver[2], driver[3], driver[4])] += change


async def apply_deltas(
    session: AsyncSession,
    removed: Iterable[Contribution],
    added: Iterable[Contribution],
    membership: Membership | None = None,
) -> None:
    """Change the buckets by (added - removed); the contributions table already holds the new state.
    `membership`: the groups in force (their buckets move with their members'; none: no group buckets).

    Sums are kept per bucket as plain lists of integers in SUMMED order (a replay's hottest loop: about four
    buckets per contribution), the peak of what was added beside them; `flags` says whether anything was
    removed from a bucket and whether that may have lowered its peak."""
    sums: dict[Key, list[int]] = {}
    peaks: dict[Key, float] = {}
    flags: dict[Key, int] = {}
    drivers: dict[DriverKey, int] = defaultdict(int)
    for c in removed:
        values = [-v for v in _SUMS(c.measures.__dict__)]
        flag = _REMOVAL | (_PEAK_MAY_DROP if c.measures.peak_power_w > 0 else 0)
        for key in _keys(c):
            held = sums.get(key)
            sums[key] = values[:] if held is None else list(map(add, held, values))
            peaks.setdefault(key, 0.0)
            flags[key] = flags.get(key, 0) | flag
            if c.driver_key:
                drivers[(*key[:4], c.driver_key)] -= 1
    for c in added:
        d = c.measures.__dict__
        values = list(_SUMS(d))
        peak = d["peak_power_w"]
        for key in _keys(c):
            held = sums.get(key)
            if held is None:
                sums[key] = values[:]
                peaks[key] = peak if peak > 0.0 else 0.0
            else:
                sums[key] = list(map(add, held, values))
                if peak > peaks[key]:
                    peaks[key] = peak
            if c.driver_key:
                drivers[(*key[:4], c.driver_key)] += 1
    if not sums:
        return
    if membership is not None and membership.groups:
        _add_groups(membership.groups, sums, peaks, flags, drivers)
    unique = await _count_drivers(session, {k: v for k, v in drivers.items() if v})
    await _upsert(session, sums, peaks, flags, unique, membership)


async def _upsert(
    session: AsyncSession,
    sums: dict[Key, list[int]],
    peaks: dict[Key, float],
    flags: dict[Key, int],
    unique: dict[tuple[str, str, str, datetime], int],
    membership: Membership | None = None,
) -> None:
    """One additive `INSERT .. ON CONFLICT DO UPDATE` for the whole batch, money (integer micro-units)
    included: no reads."""
    rows, recompute, maybe_zero = [], [], []
    for key, values in sums.items():
        flag = flags.get(key, 0)
        count = 0 if key[4] else unique.get(key[:4], 0)  # drivers are counted in the row without money
        if flag & _PEAK_MAY_DROP:
            recompute.append(key)
        if flag & _REMOVAL or count < 0:
            maybe_zero.append(key)
        peak = peaks[key]
        if not peak and count == 0 and not any(values):
            continue
        rows.append(_row(key, values, peak, count))
    b = orm.buckets
    dialect = session.get_bind().dialect.name
    pk_where = [b.c[k] == bindparam(f"k_{k}") for k in _PK]
    if rows:
        greatest = func.greatest if dialect == "postgresql" else func.max

        def additive(stmt: Any) -> Any:
            summed = {name: b.c[name] + stmt.excluded[name] for name in (*COUNTERS, *MONEY, "unique_drivers")}
            peak = {name: greatest(b.c[name], stmt.excluded[name]) for name in MAXIMA}
            return stmt.on_conflict_do_update(index_elements=list(_PK), set_={**summed, **peak})

        await insert_many(session, b, rows, on_conflict=additive, shape="additive", columns=_COLUMNS)
    if recompute:
        params = [{**{f"k_{k}": v for k, v in zip(_PK, key, strict=True)},
                   "v_peak": await _peak(session, key, membership)} for key in recompute]  # fmt: skip
        await session.execute(update(b).where(*pk_where).values(peak_power_w=bindparam("v_peak")), params)
    if maybe_zero:  # corrections can take a bucket back to nothing: then it goes, as if never touched
        zero = [b.c[name] == 0 for name in (*COUNTERS, *MONEY, *MAXIMA, "unique_drivers")]
        params = [{f"k_{k}": v for k, v in zip(_PK, key, strict=True)} for key in maybe_zero]
        await session.execute(delete(b).where(*pk_where, *zero), params)


_PK = ("scope", "scope_id", "granularity", "bucket_start", "currency")
_DRIVER_PK = ("scope", "scope_id", "granularity", "bucket_start", "driver_key")


async def _count_drivers(
    session: AsyncSession, changes: dict[DriverKey, int]
) -> dict[tuple[str, str, str, datetime], int]:
    """Apply reference-count changes; return the change of each bucket's number of distinct drivers."""
    if not changes:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        return await _count_drivers_pg(session, changes)
    t = orm.bucket_drivers.c
    refs: dict[DriverKey, int] = await select_by_keys(session, orm.bucket_drivers, _DRIVER_PK, list(changes), "refs")
    out: dict[tuple[str, str, str, datetime], int] = defaultdict(int)
    new_rows, changed, gone = [], [], []
    for key, change in changes.items():
        before = refs.get(key, 0)
        after = before + change
        out[key[:4]] += (after > 0) - (before > 0)
        row = dict(zip(_DRIVER_PK, key, strict=True))
        if before == 0 and after > 0:
            new_rows.append({**row, "refs": after})
        elif after <= 0 and before > 0:
            gone.append(row)
        elif after != before:
            changed.append({**row, "refs": after})
    where = [t[k] == bindparam(f"k_{k}") for k in _DRIVER_PK]
    if gone:
        await session.execute(
            delete(orm.bucket_drivers).where(*where), [{f"k_{k}": v for k, v in r.items()} for r in gone]
        )
    if changed:
        params = [{**{f"k_{k}": v for k, v in r.items() if k != "refs"}, "v_refs": r["refs"]} for r in changed]
        await session.execute(update(orm.bucket_drivers).where(*where).values(refs=bindparam("v_refs")), params)
    await insert_many(session, orm.bucket_drivers, new_rows)
    return out


_ADD_REFS = (
    "INSERT INTO bucket_drivers AS t (scope, scope_id, granularity, bucket_start, driver_key, refs) "
    "SELECT * FROM unnest($1::VARCHAR[], $2::VARCHAR[], $3::VARCHAR[], $4::TIMESTAMP WITH TIME ZONE[], "
    "$5::VARCHAR[], $6::INTEGER[]) "
    "ON CONFLICT (scope, scope_id, granularity, bucket_start, driver_key) DO UPDATE SET refs = t.refs + excluded.refs "
    "RETURNING t.scope, t.scope_id, t.granularity, t.bucket_start, t.driver_key, t.refs"
)


async def _count_drivers_pg(
    session: AsyncSession, changes: dict[DriverKey, int]
) -> dict[tuple[str, str, str, datetime], int]:
    """PostgreSQL: every count changed in one upsert that returns the new counts (the old ones are the new
    minus the change), instead of reading them first; counts that reach zero are deleted after."""
    params = [(*key, change) for key, change in changes.items()]
    counted = await upsert_returning(session, "bucket_drivers", _ADD_REFS, [*_DRIVER_PK, "refs"], params)
    out: dict[tuple[str, str, str, datetime], int] = defaultdict(int)
    gone = []
    for scope, scope_id, granularity, start, driver_key, after in counted:
        driver: DriverKey = (scope, scope_id, granularity, start, driver_key)
        before = after - changes[driver]
        out[driver[:4]] += (after > 0) - (before > 0)
        if after <= 0:
            gone.append(dict(zip((f"k_{k}" for k in _DRIVER_PK), driver, strict=True)))
    if gone:
        t = orm.bucket_drivers.c
        await session.execute(
            delete(orm.bucket_drivers).where(*[t[k] == bindparam(f"k_{k}") for k in _DRIVER_PK]), gone
        )
    return out


async def _peak(session: AsyncSession, key: Key, membership: Membership | None = None) -> float:
    scope, scope_id, granularity, start, currency = key
    c = orm.contributions.c
    end = start + (HOUR if granularity == "hour" else DAY)
    q = select(func.max(c.peak_power_w)).where(and_(c.hour >= start, c.hour < end, c.currency == currency))
    if scope == "station":
        q = q.where(c.station_id == scope_id)
    elif scope == "group":
        q = q.where(c.station_id.in_(membership.members(scope_id) if membership else []))
    return float((await session.execute(q)).scalar() or 0.0)


_COLUMNS = (*_PK, *SUMMED, "peak_power_w", "unique_drivers")  # a bucket row's tuple


def _row(key: Key, values: list[int], peak: float, unique: int) -> tuple[Any, ...]:
    return (*key, *values, peak, unique)
