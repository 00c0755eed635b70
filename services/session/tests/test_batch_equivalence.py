"""A consumer batch gives the same sessions, readings, announcements and station rows as its events one by one.

The batch folds MeterValues and status of active sessions in memory and recomputes each once
(`service_layer.batching`), creates the stations it hears first in memory and writes their rows, "last seen"
and connects/disconnects at its commit (`adapters.stations`); this drives random station histories both ways
over SQLite and compares. A remote start awaits station 0's first session: both ways must link it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from voltline_events import Envelope, Topics, envelope_for
from voltline_events.payloads import (
    BootNotification,
    ConnectorStatus,
    Heartbeat,
    IdToken,
    MeterSample,
    SampledValue,
    StationConnected,
    StationDisconnected,
    StationTransaction,
)
from voltline_session.adapters.orm import (
    charging_states,
    meter_readings,
    remote_starts,
    seq_nos,
    sessions,
    stations,
)
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork as SessionUnitOfWork
from voltline_session.domain import session as session_model
from voltline_session.entrypoints.consumers import build_dispatcher
from voltline_session.service_layer.context import CONSUMER, SessionContext
from voltline_store import TransactionBatch, create_engine, inbox_table, outbox_table, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_session" / "migrations"
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
VERSIONS = ("ocpp1.6", "ocpp2.0.1")

step = st.one_of(
    st.tuples(
        st.just("tx"),
        st.integers(0, 1),  # station
        st.sampled_from([0, 0, 0, 1]),  # transaction
        st.sampled_from(["started", *["updated"] * 6, "ended"]),
        st.integers(0, 90),  # minute
        st.integers(0, 3000),  # Wh added
        st.sampled_from([None, "Charging", "SuspendedEV"]),
    ),
    st.tuples(st.just("status"), st.integers(0, 1), st.integers(0, 90), st.sampled_from(["Charging", "SuspendedEV"])),
    st.tuples(st.just("heartbeat"), st.integers(0, 1)),
    st.tuples(st.just("boot"), st.integers(0, 1)),
    # Connects and disconnects, stamped by the gateway at any minute (an older one must not win).
    st.tuples(st.just("presence"), st.integers(0, 1), st.integers(0, 90), st.booleans()),
    # A reading the energy rules judge (a dip to 0, a spike), at any minute: later or earlier than the last.
    st.tuples(st.just("glitch"), st.integers(0, 1), st.integers(0, 90), st.sampled_from(["zero", "spike"])),
)


def history(prefix: str, steps: list[tuple[Any, ...]]) -> list[Envelope]:
    """Envelopes a gateway could have published for these steps (registers only grow, seqNos count up)."""
    out: list[Envelope] = []
    register: dict[tuple[int, int], int] = defaultdict(int)
    seq = itertools.count()
    for s in steps:
        station = f"{prefix}-{s[1]}"
        version = VERSIONS[s[1]]
        if s[0] == "tx":
            _, n, tx, kind, minute, added, state = s
            register[n, tx] += added
            sample = MeterSample(
                timestamp=T0 + timedelta(minutes=minute),
                values=[SampledValue(value=str(register[n, tx]), measurand="Energy.Active.Import.Register", unit="Wh")],
            )
            event: Any = StationTransaction(
                ocpp_version=version,
                kind=kind,
                transaction_id=f"T{tx}",
                timestamp=T0 + timedelta(minutes=minute),
                evse_id=1 if version != "ocpp1.6" else None,
                connector_id=1,
                id_token=IdToken(id_token="TAG", type="ISO14443") if kind == "started" else None,
                seq_no=next(seq) if version != "ocpp1.6" else None,
                charging_state=state if version != "ocpp1.6" else None,
                meter_start_wh=0 if kind == "started" and version == "ocpp1.6" else None,
                meter_stop_wh=register[n, tx] if kind == "ended" and version == "ocpp1.6" else None,
                meter_values=[sample],
            )
        elif s[0] == "glitch":
            _, n, minute, glitch = s
            shown = 0 if glitch == "zero" else register[n, 0] + 10**6
            sample = MeterSample(
                timestamp=T0 + timedelta(minutes=minute),
                values=[SampledValue(value=str(shown), measurand="Energy.Active.Import.Register", unit="Wh")],
            )
            event = StationTransaction(
                ocpp_version=version,
                kind="updated",
                transaction_id="T0",
                timestamp=T0 + timedelta(minutes=minute),
                evse_id=1 if version != "ocpp1.6" else None,
                connector_id=1,
                seq_no=next(seq) if version != "ocpp1.6" else None,
                meter_values=[sample],
            )
        elif s[0] == "status":
            _, n, minute, status = s
            event = ConnectorStatus(
                ocpp_version=version,
                timestamp=T0 + timedelta(minutes=minute),
                evse_id=1 if version != "ocpp1.6" else None,
                connector_id=1,
                status=status if version == "ocpp1.6" else "Occupied",
            )
        elif s[0] == "heartbeat":
            event = Heartbeat(ocpp_version=version)
        elif s[0] == "presence":
            _, n, minute, connected = s
            event = (
                StationConnected(ocpp_version=version, gateway_instance="gw")
                if connected
                else StationDisconnected(gateway_instance="gw", reason="closed")
            )
            stamped = envelope_for(event, source="gw", station_id=station)
            out.append(stamped.model_copy(update={"time": T0 + timedelta(minutes=minute)}))
            continue
        else:
            event = BootNotification(ocpp_version=version, vendor="V", model="M", raw={})
        out.append(envelope_for(event, source="gw", station_id=station))
    return out


def context(
    factory: Any, prefix: str, *, fold_readings: bool = True, interval: int = 60, plain_appends: bool = True
) -> SessionContext:
    ticks = itertools.count()
    ids = itertools.count()
    return SessionContext(
        update_interval=timedelta(seconds=interval),
        fold_readings=fold_readings,
        plain_appends=plain_appends,
        uow=lambda: SessionUnitOfWork(factory),
        topics=Topics(""),
        source="session-test",
        clock=lambda: T0 + timedelta(hours=2, seconds=20 * next(ticks)),
        new_id=lambda: f"{prefix}-session-{next(ids)}",
    )


async def outcome(factory: Any, prefix: str) -> dict[str, Any]:
    async with factory() as db:
        rows = (await db.execute(sa.select(sessions).where(sessions.c.station_id.like(f"{prefix}-%")))).all()
        found = sorted((dict(r._mapping) for r in rows), key=lambda r: r["session_id"])
        ids = [r["session_id"] for r in found]
        readings = (await db.execute(sa.select(meter_readings).where(meter_readings.c.session_id.in_(ids)))).all()
        events: dict[str, list[Any]] = defaultdict(list)
        for row in (await db.execute(sa.select(outbox_table.c.value).order_by(outbox_table.c.id))).all():
            envelope = json.loads(row.value)
            if envelope.get("session_id") in ids:
                events[envelope["session_id"]].append((envelope["type"], envelope["payload"]))
        # "updated_at" says when the service last wrote the row: per batch, not per event.
        station_rows = (await db.execute(sa.select(stations).where(stations.c.station_id.like(f"{prefix}-%")))).all()
        found_stations = sorted(
            ({k: v for k, v in r._mapping.items() if k != "updated_at"} for r in station_rows),
            key=lambda r: r["station_id"],
        )
        starts = [dict(r._mapping) for r in (await db.execute(sa.select(remote_starts))).all()]
    return {
        "sessions": found,
        "readings": sorted(tuple(r) for r in readings),
        "events": dict(events),
        "stations": found_stations,
        "remote_starts": starts,
    }


async def await_a_remote_start(factory: Any) -> None:
    """An app start sent to station 0 just before its first transaction (`awaiting_session` links it)."""
    async with SessionUnitOfWork(factory) as uow:
        await uow.remote_starts.add(
            station_id="CP-0",
            id_token="TAG",
            id_token_type="ISO14443",
            evse_id=None,
            connector_id=None,
            driver_id="driver-1",
            status="accepted",
            requested_by="test",
            requested_at=T0 - timedelta(seconds=30),
        )
        await uow.commit()


async def both_ways(
    url: str, steps: list[tuple[Any, ...]], cut: int = 1000, interval: int = 60, reference: str = "one"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The events one by one (`reference` "general": in batches, each message merged the general way, no
    plain appends), then in consumer batches of `cut` events (what one fetch returned)."""
    engine = create_engine(url)
    factory = session_factory(engine)
    try:
        results = []
        envelopes = history("CP", steps)  # the same envelopes both ways (their times are the stations' "last seen")
        for mode in (reference, "batch"):
            await await_a_remote_start(factory)
            # The reference: one event at a time, every session recomputed from all its readings.
            ctx = context(factory, "s", fold_readings=mode != "one", interval=interval, plain_appends=mode == "batch")
            handle = build_dispatcher(ctx)
            if mode == "one":
                for envelope in envelopes:
                    await handle(envelope)
            else:
                for start in range(0, len(envelopes), cut):
                    chunk = envelopes[start : start + cut]
                    async with TransactionBatch(factory, inbox_consumer=CONSUMER)(chunk):
                        for envelope in chunk:
                            await handle(envelope)
            results.append(await outcome(factory, "CP"))
            async with factory() as db:  # the next run starts from an empty store (remote start ids from 1)
                tables = (
                    meter_readings,
                    charging_states,
                    seq_nos,
                    sessions,
                    stations,
                    remote_starts,
                    outbox_table,
                    inbox_table,
                )
                if engine.dialect.name == "postgresql":
                    await db.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY"))
                for table in tables:
                    await db.execute(sa.delete(table))
                if engine.dialect.name == "postgresql":  # the next run's remote start gets the same id
                    await db.execute(sa.text("ALTER SEQUENCE remote_starts_remote_start_id_seq RESTART"))
                await db.commit()
        return results[0], results[1]
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('batch') / 'session.db'}"
    asyncio.run(run_migrations(url, MIGRATIONS))
    return url


@pytest.fixture(scope="module")
def pg_store(postgres: Any) -> str:
    """PostgreSQL: the batch's bulk writes go through asyncpg's executemany, its reads lock rows."""
    url = str(postgres.create_database(f"batch_{uuid.uuid4().hex[:10]}"))
    asyncio.run(run_migrations(url, MIGRATIONS))
    return url


# Readings in time order with late ones (older than the newest) and glitches mixed in: the batch folds the
# in-order ones into the running totals and recomputes the sessions a late reading reached.
ordered = st.lists(
    st.one_of(
        st.tuples(st.just("tx"), st.integers(0, 1), st.just(0), st.just("updated"), st.integers(0, 40),
                  st.integers(0, 3000), st.sampled_from([None, "Charging"])),
        st.tuples(st.just("late"), st.integers(0, 1), st.integers(1, 30)),
        st.tuples(st.just("glitch"), st.integers(0, 1), st.integers(0, 40), st.sampled_from(["zero", "spike"])),
        st.tuples(st.just("status"), st.integers(0, 1), st.integers(0, 40), st.sampled_from(["Charging", "Finishing"])),
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


def in_time_order(steps: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Minutes of `tx` steps count up from the previous one; `late` steps go back that many minutes."""
    out: list[tuple[Any, ...]] = []
    minute = dict.fromkeys((0, 1), 0)
    for s in steps:
        if s[0] == "tx":
            minute[s[1]] += 1 + s[4] % 3
            out.append((*s[:4], minute[s[1]], *s[5:]))
        elif s[0] == "late":
            out.append(("tx", s[1], 0, "updated", max(0, minute[s[1]] - s[2]), 0, None))
        elif s[0] == "glitch":
            minute[s[1]] += 1
            out.append(("glitch", s[1], minute[s[1]], s[3]))
        else:
            out.append(s)
    return out


def in_lanes(steps: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The order a consumer lane hands a batch of several partitions' stations (`merge_partitions`): each
    partition's records whole and in order, one partition after the other (stations 0 and 1 in two partitions)."""
    return sorted(steps, key=lambda s: s[1])  # stable: each station's own order is kept


HISTORIES = {
    "any": st.lists(step, min_size=1, max_size=40),  # any order: starts, ends, reboots, statuses, glitches
    "late_readings": ordered.map(in_time_order),
    "lanes": st.lists(step, min_size=1, max_size=40),  # then in a lane's order, the starts included (below)
}


@pytest.mark.parametrize("kind", sorted(HISTORIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    cut=st.sampled_from([1000, 1000, 7, 3]),
    interval=st.sampled_from([60, 60, 20, 0]),  # an update due every 3rd tick, every other, every message
)
def test_a_batch_equals_its_events_one_by_one(
    store: str, kind: str, data: st.DataObject, cut: int, interval: int
) -> None:
    """Sessions (meter_tally included: folded totals equal recomputed ones), readings and announcements."""
    starts = [("tx", n, 0, "started", 0, 0, None) for n in (0, 1)]  # mostly about sessions whose start was seen
    steps = starts + data.draw(HISTORIES[kind], label="steps")
    assert_equivalent(store, in_lanes(steps) if kind == "lanes" else steps, cut, interval)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(step, min_size=1, max_size=40),
    cut=st.sampled_from([1000, 7, 3]),
    interval=st.sampled_from([60, 0]),
)
def test_a_batch_equals_its_events_one_by_one_on_postgresql(
    pg_store: str, steps: list[tuple[Any, ...]], cut: int, interval: int
) -> None:
    """The same on PostgreSQL, starts anywhere in the stories: a batch's new sessions (and their seqNos) are
    inserted at its commit or before a statement that could miss them (a reboot's, a status's read, ...)."""
    assert_equivalent(pg_store, steps, cut, interval)


def assert_equivalent(url: str, steps: list[tuple[Any, ...]], cut: int, interval: int) -> None:
    one, batch = asyncio.run(both_ways(url, steps, cut, interval))
    assert batch["sessions"] == one["sessions"]
    assert batch["readings"] == one["readings"]
    assert batch["events"] == one["events"]
    assert batch["stations"] == one["stations"]
    assert batch["remote_starts"] == one["remote_starts"]
    if steps[0] == ("tx", 0, 0, "started", 0, 0, None):
        assert one["remote_starts"][0]["session_id"] == "s-session-0"  # station 0's first session answers it


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database on each store, for the module."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('plain') / 'session.db'}"
    else:
        server = request.getfixturevalue("postgres")
        name = f"t_{uuid.uuid4().hex[:12]}"
        url = server.create_database(name)
    asyncio.run(run_migrations(url, MIGRATIONS))
    yield url
    if request.param == "postgresql":
        server.drop_database(name)


@pytest.mark.parametrize("kind", ["any", "late_readings"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), cut=st.sampled_from([1000, 7, 3]), interval=st.sampled_from([60, 20, 0]))
def test_plain_appends_store_and_announce_what_merging_each_message_does(
    any_store: str, kind: str, data: st.DataObject, cut: int, interval: int
) -> None:
    """A held session's plain MeterValues appended and merged once (`batching.append`) against the same
    batches merging each message (the general path), on both stores: sessions, readings, announcements."""
    starts = [("tx", n, 0, "started", 0, 0, None) for n in (0, 1)]
    steps = starts + data.draw(HISTORIES[kind], label="steps")
    general, batch = asyncio.run(both_ways(any_store, steps, cut, interval, reference="general"))
    assert batch == general


@pytest.mark.parametrize("plain_appends", [True, False])
async def test_a_held_sessions_plain_meter_values_are_not_merged_one_by_one(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, plain_appends: bool
) -> None:
    """The flood's MeterValues of a held session are appended: `merge` (a copy of the session) runs for the
    batch's first message of it only, and the session is the same as with every message merged."""
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    handle = build_dispatcher(context(factory, "s", interval=3600, plain_appends=plain_appends))  # no update due
    merged = 0
    merge = session_model.merge

    def counted(*args: Any) -> Any:
        nonlocal merged
        merged += 1
        return merge(*args)

    async def batch(envelopes: list[Envelope]) -> None:
        async with TransactionBatch(factory, inbox_consumer=CONSUMER)(envelopes):
            for envelope in envelopes:
                await handle(envelope)

    envelopes = history(
        "CP",
        [("tx", n, 0, "started", 0, 0, None) for n in (0, 1)]
        + [("tx", n, 0, "updated", minute, 100, "Charging") for minute in range(1, 11) for n in (0, 1)],
    )
    try:
        # Started, and a session.updated published: the next one is due in an hour.
        await batch(envelopes[:2])
        await batch(envelopes[2:6])
        monkeypatch.setattr("voltline_session.service_layer.recording.merge", counted)
        await batch(envelopes[6:])
        async with factory() as db:
            energy = (await db.execute(sa.select(sessions.c.station_id, sessions.c.energy_wh))).all()
    finally:
        await engine.dispose()
    assert sorted(energy) == [("CP-0", 1000), ("CP-1", 1000)]
    assert merged == (2 if plain_appends else 16)


async def test_a_batch_reads_its_stations_sessions_once_and_writes_last_seen_once(sqlite_url: str) -> None:
    """The realistic mix in SQL: the stations' sessions read in one query, their "last seen" written in one
    statement, no "clear suspect" update for stations with no suspect session."""
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    handle = build_dispatcher(context(factory, "s"))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    async def batch(steps: list[tuple[Any, ...]]) -> None:
        envelopes = history("CP", steps)
        async with TransactionBatch(factory, inbox_consumer=CONSUMER)(envelopes):
            for envelope in envelopes:
                await handle(envelope)

    try:
        await batch([("tx", n, 0, "started", 0, 0, None) for n in (0, 1)])
        flood: list[tuple[Any, ...]] = []
        for minute in range(1, 4):  # MeterValues, status and heartbeats of both stations, interleaved
            for n in (0, 1):
                flood += [
                    ("tx", n, 0, "updated", minute, 100, None),
                    ("status", n, minute, "Charging"),
                    ("heartbeat", n),
                ]
        sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
        await batch(flood)
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert len([s for s in statements if s.startswith("SELECT sessions.")]) == 1
        assert len([s for s in statements if s.startswith("UPDATE stations SET")]) == 1
        assert not [s for s in statements if s.startswith("UPDATE sessions SET suspect")]
        async with factory() as db:
            energy = (await db.execute(sa.select(sessions.c.station_id, sessions.c.energy_wh))).all()
        assert sorted(energy) == [("CP-0", 300), ("CP-1", 300)]
    finally:
        await engine.dispose()


async def test_due_updates_are_announced_and_each_session_saved_once_per_batch(sqlite_url: str) -> None:
    """Every message due a session.updated (interval 0): MeterValues and status are each announced with the
    figures the one-by-one run announces, and the batch still writes each session once (one executemany)."""
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    handle = build_dispatcher(context(factory, "s", interval=0))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    async def batch(steps: list[tuple[Any, ...]]) -> None:
        envelopes = history("CP", steps)
        async with TransactionBatch(factory, inbox_consumer=CONSUMER)(envelopes):
            for envelope in envelopes:
                await handle(envelope)

    starts = [("tx", n, 0, "started", 0, 0, None) for n in (0, 1)] + [
        ("tx", n, 0, "updated", 1, 100, None) for n in (0, 1)
    ]
    flood: list[tuple[Any, ...]] = []
    for minute in range(2, 6):  # MeterValues and a status (falling into the session) of both stations
        flood += [("tx", n, 0, "updated", minute, 100, "Charging") for n in (0, 1)]
        flood += [("status", n, minute, "SuspendedEV" if minute % 2 else "Charging") for n in (0, 1)]
    try:
        await batch(starts)
        sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
        await batch(flood)
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert len([s for s in statements if s.startswith("UPDATE sessions SET")]) == 1
        # Both stations' bays' newest states in one query, at the first one the batch needed.
        assert len([s for s in statements if s.startswith("SELECT") and "FROM charging_states" in s]) == 1
        async with factory() as db:  # both_ways starts from an empty store
            for table in (meter_readings, charging_states, seq_nos, sessions, stations, outbox_table, inbox_table):
                await db.execute(sa.delete(table))
            await db.commit()
    finally:
        await engine.dispose()
    one, batched = await both_ways(sqlite_url, starts + flood, interval=0)
    assert batched == one
    updates = [p for p in batched["events"]["s-session-0"] if p[0] == "session.updated"]
    assert len(updates) >= 4  # the flood's messages were announced, not only the batch's end


async def test_an_open_sessions_full_recompute_reads_its_state_from_one_row(sqlite_url: str) -> None:
    """Creating a session and its first readings recompute it in full: its state comes from the bay's newest
    observation, and the observations a periods list would need are not read (in a batch or alone)."""
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    handle = build_dispatcher(context(factory, "s"))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    steps = [("status", 0, 0, "Charging"), ("tx", 0, 0, "started", 0, 0, None), ("tx", 0, 0, "updated", 1, 100, None)]
    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        for envelope in history("A", steps):  # alone
            await handle(envelope)
        envelopes = history("B", steps)
        async with TransactionBatch(factory, inbox_consumer=CONSUMER)(envelopes):
            for envelope in envelopes:
                await handle(envelope)
        async with factory() as db:
            states = (await db.execute(sa.select(sessions.c.station_id, sessions.c.charging_state))).all()
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
        await engine.dispose()
    assert sorted(states) == [("A-0", "charging"), ("B-0", "charging")]
    assert not [s for s in statements if s.startswith("SELECT charging_states.at, charging_states.state")]
