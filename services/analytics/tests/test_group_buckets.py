"""A group's materialised buckets (ADR 0035) give exactly what summing its current members' station buckets at
query time gives: random sessions, corrections (CDR revisions, refunds, late uploads), redeliveries and outages,
applied in random batches while stations join and leave groups and groups are created and deleted; and a replay
into an empty store, with the groups set before or after it, gives the same figures. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text
from voltline_analytics.adapters import groups, orm
from voltline_analytics.adapters.kpi_reads import SqlKpiReads
from voltline_analytics.adapters.projection_store import StateCache, apply
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_analytics.domain.kpis import Co2Factors
from voltline_analytics.service_layer import queries
from voltline_analytics.service_layer.queries import Scope
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import (
    CdrCreated,
    RefundIssued,
    SessionEnded,
    SessionStarted,
    StationConnected,
    StationDisconnected,
)
from voltline_events.payloads.sessions import EnergyReading, SessionPeriod
from voltline_store import create_engine, run_migrations, session_factory
from voltline_store.migrations import alembic_config

T0 = datetime(2026, 11, 2, tzinfo=UTC)
STATIONS = [f"CP-{i}" for i in range(6)]
GROUPS = ("G1", "G2", "G3")
LATENESS = timedelta(days=7)


def _envelope(event: Any, station: str, time: datetime | None = None) -> Envelope:
    e = envelope_for(event, source="test", station_id=station, session_id=getattr(event, "session_id", None))
    return e if time is None else e.model_copy(update={"time": time})


def _log(rng: random.Random) -> list[Envelope]:
    """Each station's events in its order (the streams interleaved as a log would)."""
    streams: dict[str, list[Envelope]] = {}
    for station in STATIONS:
        out = streams.setdefault(station, [])
        out.append(_envelope(StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw"), station, T0))
        t = T0 + timedelta(minutes=rng.randrange(0, 120))
        for n in range(rng.randrange(3, 8)):
            start = t + timedelta(minutes=rng.randrange(5, 300))
            end = start + timedelta(minutes=rng.randrange(1, 150))
            sid = f"{station}-{n}"
            wh = rng.choice([0, 50, rng.randrange(100, 40_000)])
            common = {"session_id": sid, "station_id": station, "evse_id": rng.randrange(1, 3), "connector_id": 1,
                      "started_at": start, "id_token": f"T{rng.randrange(4)}", "ocpp_version": "ocpp2.0.1",
                      "driver_id": rng.choice([None, "d1", "d2", "d3"]), "id_token_type": "ISO14443"}  # fmt: skip
            mid = start + (end - start) / 2
            ended = SessionEnded(**common, ended_at=end, energy_wh=wh, peak_power_w=float(rng.randrange(1, 90_000)),
                                 stop_reason=rng.choice(["Local", "EVDisconnected", "DeAuthorized", "PowerLoss"]),
                                 periods=[SessionPeriod(state="charging", start=start, end=mid, energy_wh=wh)],
                                 energy_timeline=[EnergyReading(at=mid, energy_wh=wh // 2)])  # fmt: skip
            late = rng.random() < 0.15  # uploaded after the station's next sessions
            events = [_envelope(SessionStarted(**common), station), _envelope(ended, station)]
            if rng.random() < 0.3:  # revised by late station data: a lower peak (recomputed), other energy
                revised = ended.model_copy(update={"revision": 2, "peak_power_w": 1.0, "energy_wh": wh // 3})
                events.append(_envelope(revised, station))
            for rev in range(1, rng.randrange(2, 4)):  # revised CDRs
                excl = Decimal(rng.randrange(0, 3000)) / 100
                currency = rng.choice(["EUR", "EUR", "CHF"])
                cdr = CdrCreated(cdr_id=f"cdr-{sid}-{rev}", session_id=sid, station_id=station, started_at=start,
                                 ended_at=end, currency=currency, energy_kwh=Decimal(wh) / 1000,
                                 total_excl_vat=excl, total_vat=excl / 5, total_incl_vat=excl * 6 / 5,
                                 revision=rev)  # fmt: skip
                events.append(_envelope(cdr, station))
            if rng.random() < 0.3:
                refund = RefundIssued(refund_id=f"R-{sid}", payment_id=f"P-{sid}", session_id=sid, station_id=station,
                                      cdr_id=f"cdr-{sid}-1", session_started_at=start, refunded_at=end,
                                      currency="EUR", amount_incl_vat=Decimal("1.20"),
                                      amount_excl_vat=Decimal("1.00"))  # fmt: skip
                events.append(_envelope(refund, station))
            if late:
                streams.setdefault(f"{station}-late", []).extend(events)
            else:
                out.extend(events)
            if rng.random() < 0.2:
                out.append(_envelope(StationDisconnected(gateway_instance="gw", reason="x"), station, end))
                back = end + timedelta(minutes=rng.randrange(5, 200))
                out.append(_envelope(StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw"), station, back))
                end = back
            t = end
        out.extend(streams.pop(f"{station}-late", []))  # the late upload after the station's other events
    order: list[Envelope] = []
    queues = [q for q in streams.values() if q]
    while queues:
        queue = rng.choice(queues)
        order.append(queue.pop(0))
        if rng.random() < 0.1:
            order.append(order[-1])  # a redelivery
        queues = [q for q in queues if q]
    return order


async def _change(session: Any, rng: random.Random) -> None:
    """A random group gets random members (mostly a rebuild), or one station joins or leaves it (mostly the
    delta: fewer stations change than stay)."""
    group = rng.choice(GROUPS)
    if rng.random() < 0.3:
        members = rng.sample(STATIONS, rng.randrange(0, len(STATIONS) + 1))
    else:
        members = list(set(await SqlKpiReads(session).members(group)) ^ {rng.choice(STATIONS)})
    await groups.set_members(session, group, sorted(members))


async def _figures(
    sessions: Any, now: datetime, granularities: tuple[str, ...] = ("hour", "day", "month")
) -> dict[str, Any]:
    """Every group's hour and day KPIs and hour rows (the heatmap's) from its buckets, and the same summed from
    its current members' station buckets (query time, as before ADR 0035)."""
    out: dict[str, Any] = {}
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=4)
    async with sessions() as session:
        reads = SqlKpiReads(session)
        for group in GROUPS:
            for granularity in granularities:
                for materialised in (True, False):
                    out[f"{group}/{granularity}/{materialised}"] = await queries.kpis(
                        reads, Scope(group_id=group), start, end, granularity, now, Co2Factors(), "EUR",
                        group_buckets=materialised,
                    )  # fmt: skip
            members = await reads.members(group)
            out[f"{group}/rows"] = _rows(await reads.summed("hour", start, end, members, group))
            out[f"{group}/rows-ref"] = _rows(await reads.summed("hour", start, end, members))
            out[f"{group}/members"] = members
    return out


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    """Summed rows without unique_drivers (summed over stations it is no distinct count: the KPIs compare it)."""
    return sorted(tuple(sorted((k, v) for k, v in dict(r).items() if k != "unique_drivers")) for r in rows)


def _assert_equal_to_query_time(
    figures: dict[str, Any], granularities: tuple[str, ...] = ("hour", "day", "month")
) -> None:
    for group in GROUPS:
        for granularity in granularities:
            mine, reference = figures[f"{group}/{granularity}/True"], figures[f"{group}/{granularity}/False"]
            assert mine == reference, (group, granularity)
        assert figures[f"{group}/rows"] == figures[f"{group}/rows-ref"], group


async def _run(url: str, order: list[Envelope], rng: random.Random, changes: bool) -> tuple[dict[str, Any], Any]:
    """Apply `order` in random batches (with membership changes between them when `changes`); the final members."""
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cache = StateCache()
    i = n = 0
    now = T0 + timedelta(days=5)
    if changes:
        async with sessions() as session, session.begin():
            for group, members in zip(GROUPS, (STATIONS[:4], STATIONS[2:], STATIONS[::2]), strict=True):
                await groups.set_members(session, group, members)
    while i < len(order):
        size = rng.randrange(1, 12)
        async with sessions() as session, session.begin():
            await apply(session, order[i : i + size], LATENESS, cache)
        i, n = i + size, n + 1
        if changes and rng.random() < 0.4:
            async with sessions() as session, session.begin():
                await _change(session, rng)
        if n % 4 == 0:  # the worker's deltas since the last change, not only a rebuild, are checked
            _assert_equal_to_query_time(await _figures(sessions, now, ("day",)), ("day",))  # and the hour rows
    return await _figures(sessions, now), (engine, sessions)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_group_buckets_equal_the_sum_over_current_members(store: str, tmp_path: Any, request: Any) -> None:
    def url(name: str) -> str:
        if store == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
        return str(request.getfixturevalue("postgres").create_database(f"analytics_{secrets.token_hex(4)}"))

    rng = random.Random(15)
    order = _log(rng)
    live, (engine, sessions) = await _run(url("live"), order, rng, changes=True)
    _assert_equal_to_query_time(live)
    assert any(live[f"{g}/rows"] for g in GROUPS), "no group ever had figures: the test tests nothing"
    final = {g: live[f"{g}/members"] for g in GROUPS}
    async with sessions() as session:  # the driver counts of each group = its members' summed
        d = orm.bucket_drivers.c
        counts = (await session.execute(select(d.scope, d.scope_id).where(d.scope == "group"))).all()
    assert {scope_id for _, scope_id in counts} == {g for g, members in final.items() if members}
    await engine.dispose()

    async def replay(before: bool) -> dict[str, Any]:
        """An empty store, the log in other batches, the final groups set before the replay or after it."""
        target = url(f"replay{before}")
        await run_migrations(target, MIGRATIONS)
        engine = create_engine(target)
        sessions = session_factory(engine)

        async def set_groups() -> None:
            async with sessions() as session, session.begin():
                for group, members in final.items():
                    await groups.set_members(session, group, members)

        if before:
            await set_groups()
        cache, batch = StateCache(), rng.randrange(5, 200)
        for i in range(0, len(order), batch):
            async with sessions() as session, session.begin():
                await apply(session, order[i : i + batch], LATENESS, cache)
        if not before:
            await set_groups()
        figures = await _figures(sessions, T0 + timedelta(days=5))
        await engine.dispose()
        return figures

    for before in (True, False):
        again = await replay(before)
        _assert_equal_to_query_time(again)
        assert again == live, before


async def test_a_membership_change_waits_for_the_batch_being_written(postgres: Any) -> None:
    """PostgreSQL: a group's rebuild waits for the worker's open batch (the advisory lock), so the batch's
    station buckets are in the rebuild and counted once; the next batch then sees the new members."""
    url = str(postgres.create_database(f"analytics_{secrets.token_hex(4)}"))
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    order = _log(random.Random(7))
    half = len(order) // 2
    cache = StateCache()
    async with sessions() as session, session.begin():  # a group exists: the worker reads its members
        await groups.set_members(session, "G1", STATIONS[:2])
    async with sessions() as worker, worker.begin():
        await apply(worker, order[:half], LATENESS, cache)  # written, not committed: the lock is held
        change = asyncio.create_task(_set(sessions, "G1", STATIONS[1:]))

        async def waiting() -> bool:
            async with sessions() as s:
                q = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key "
                     "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")  # fmt: skip
                return bool((await s.execute(text(q), {"key": groups.LOCK})).scalar())

        await eventually(waiting)
        assert not change.done()
    await change
    async with sessions() as session, session.begin():
        await apply(session, order[half:], LATENESS, cache)
    figures = await _figures(sessions, T0 + timedelta(days=5))
    await engine.dispose()
    _assert_equal_to_query_time(figures)
    assert figures["G1/members"] == STATIONS[1:] and figures["G1/rows"]


async def _set(sessions: Any, group: str, members: list[str]) -> None:
    async with sessions() as session, session.begin():
        await groups.set_members(session, group, members)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_the_migration_builds_the_buckets_of_existing_groups(dialect: str, request: Any) -> None:
    """A store with groups from before migration 0007 (this one downgraded to 0006 after a replay) gets their
    buckets, what a rebuild gives, when upgraded."""
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "pg_url")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await apply(session, _log(random.Random(3)), LATENESS, StateCache())
    await _alembic(engine, url, "downgrade", "0006")
    async with sessions() as session, session.begin():
        members = [{"group_id": g, "station_id": s} for g in GROUPS[:2] for s in STATIONS[1:4]]
        await session.execute(orm.station_groups.insert(), members)
    await _alembic(engine, url, "upgrade", "head")
    migrated = await _figures(sessions, T0 + timedelta(days=5))
    async with sessions() as session:
        version = (await session.execute(select(orm.group_versions.c.version))).scalar()
    await engine.dispose()
    _assert_equal_to_query_time(migrated)
    assert migrated["G1/rows"] and migrated["G2/rows"] == migrated["G1/rows"] and version == 1


async def _alembic(engine: Any, url: str, command_name: str, target: str) -> None:
    async with engine.begin() as conn:

        def run(sync: Any) -> None:
            config = alembic_config(url, MIGRATIONS)
            config.attributes["connection"] = sync
            getattr(command, command_name)(config, target)

        await conn.run_sync(run)
