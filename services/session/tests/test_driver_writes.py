"""The driver-level batch writes store exactly what SQLAlchemy's statements store, on both dialects.

`save_many` (every held session of a batch) and the stations' "last seen" go through the driver's own
executemany (adapters/driver_sql.py); `save` and a touch outside a batch go through SQLAlchemy. The same
values written both ways must read back equal, column by column (JSON, booleans, floats, timestamps, NULLs).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from voltline_events import envelope_for
from voltline_events.payloads import Heartbeat
from voltline_session.adapters.orm import charging_states, meter_readings, sessions, stations
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
from voltline_session.domain.meter import BEGIN, ENERGY, POWER, Reading
from voltline_session.domain.session import Session
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_session" / "migrations"
T0 = datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=UTC)


def _sessions(prefix: str) -> list[Session]:
    base = Session(
        session_id=f"{prefix}-0",
        station_id="CP-1",
        transaction_id=f"{prefix}-T0",
        ocpp_version="ocpp1.6",
        started_at=T0,
        created_at=T0,
        updated_at=T0,
        last_event_at=T0,
    )
    changed = replace(
        base,
        session_id=f"{prefix}-1",
        transaction_id=f"{prefix}-T1",
        connector_id=2,
        evse_id=1,
        id_token="TAG",
        energy_wh=1234,
        power_w=11000,  # an int into a Float column
        peak_power_w=11000.5,
        soc_percent=42.0,
        start_seen=True,
        suspect=True,
        suspect_since=T0 + timedelta(minutes=5),
        anomalies=("meter_reset", "start_not_seen"),
        problems=("unit",),
        last_reading_at=T0 + timedelta(seconds=61, microseconds=7),
        meter_tally={"v": 1, "key": ["x", None, 3], "total": "12.5"},
        charging_state="charging",
    )
    return [base, changed]


async def _rows(factory: Any, table: sa.Table, key: sa.Column[Any], ids: list[str]) -> list[dict[str, Any]]:
    async with factory() as db:
        rows = (await db.execute(sa.select(table).where(key.in_(ids)).order_by(key))).all()
    return [dict(r._mapping) for r in rows]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_batch_writes_through_the_driver_equal_sqlalchemys(store: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("sqlite_url" if store == "sqlite" else "pg_url")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    try:
        orm, wide, narrow = _sessions("orm"), _sessions("wide"), _sessions("narrow")
        async with SqlSessionUnitOfWork(factory) as uow:
            for s in (*orm, *wide, *narrow):
                await uow.sessions.add(replace(s, energy_wh=1, power_w=1.5, meter_tally={"v": 0}))
            await uow.commit()
        async with SqlSessionUnitOfWork(factory) as uow:  # outside a batch: SQLAlchemy's UPDATE, one by one
            for s in orm:
                await uow.sessions.save(s)
            await uow.commit()
        async with SqlSessionUnitOfWork(factory) as uow:  # outside a batch, several: every column, the driver's
            await uow.sessions.save_many(wide)
            await uow.commit()
        heartbeat = envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test", station_id="CP-1")
        statements: list[str] = []
        sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        async with TransactionBatch(factory)([heartbeat]):  # inside a batch: only the changed columns
            async with SqlSessionUnitOfWork(factory) as uow:
                for s in narrow:
                    assert await uow.sessions.by_transaction("CP-1", s.transaction_id) is not None  # read, locked
                await uow.sessions.save_many(narrow)
                await uow.commit()
        updates = [s for s in statements if s.startswith("UPDATE sessions")]
        assert len(updates) == 1 and '"energy_wh"' in updates[0] and '"created_at"' not in updates[0]
        written = {
            prefix: [
                {k: v for k, v in row.items() if k not in ("session_id", "transaction_id")}
                for row in await _rows(factory, sessions, sessions.c.session_id, [f"{prefix}-0", f"{prefix}-1"])
            ]
            for prefix in ("orm", "wide", "narrow")
        }
        assert written["wide"] == written["orm"]
        assert written["narrow"] == written["orm"]
        assert written["narrow"][1]["meter_tally"] == {"v": 1, "key": ["x", None, 3], "total": "12.5"}

        # Stations' "last seen": a touch outside a batch (SQLAlchemy) and inside one (written at its commit).
        seen, now = T0 + timedelta(hours=1, microseconds=5), T0 + timedelta(hours=2)
        async with SqlSessionUnitOfWork(factory) as uow:
            for station_id in ("ST-orm", "ST-drv"):
                await uow.stations.touch(station_id, T0, "ocpp1.6", T0)
            await uow.commit()
        async with SqlSessionUnitOfWork(factory) as uow:
            await uow.stations.touch("ST-orm", seen, "ocpp2.0.1", now)
            await uow.commit()
        async with TransactionBatch(factory)([]):
            async with SqlSessionUnitOfWork(factory) as uow:
                await uow.stations.touch("ST-drv", seen, "ocpp2.0.1", now)
                await uow.commit()
        found = await _rows(factory, stations, stations.c.station_id, ["ST-drv", "ST-orm"])
        assert [{k: v for k, v in row.items() if k != "station_id"} for row in found] == [
            {
                "ocpp_version": "ocpp2.0.1",
                "connected": True,
                "presence_at": None,
                "last_seen_at": seen,
                "updated_at": now,
            }
        ] * 2
    finally:
        await engine.dispose()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_batchs_readings_and_states_store_what_sqlalchemys_inserts_store(
    store: str, request: pytest.FixtureRequest
) -> None:
    """A batch's buffered rows (on PostgreSQL one unnest INSERT, elsewhere the driver's executemany) read back
    as SQLAlchemy's row-by-row INSERT ... ON CONFLICT DO NOTHING stores them: of two rows with one key the first
    stays, within the batch and against rows stored before it."""
    url: str = request.getfixturevalue("sqlite_url" if store == "sqlite" else "pg_url")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    at = [T0 + timedelta(seconds=s, microseconds=s) for s in range(3)]
    first = [Reading(at[0], ENERGY, Decimal("1000.5"), BEGIN), Reading(at[1], ENERGY, Decimal("1500"))]
    # the stored one again (new value), a new one twice (the first stays), a power reading, a kWh decimal
    then = [
        Reading(at[1], ENERGY, Decimal("1499")),
        Reading(at[2], POWER, Decimal("11000")),
        Reading(at[2], POWER, Decimal("7")),
        Reading(at[2], ENERGY, Decimal("2000.125")),
    ]
    states = [(1, at[0], "status", "charging", "Charging"), (1, at[0], "status", "idle", "Finishing")]
    states += [(2, at[1], "tx", "idle", "EVConnected" * 4)]  # raw cut to 32 characters
    try:
        async with engine.begin() as conn:  # what SQLAlchemy's own statements store, one row at a time
            for reading in [*first, *then]:
                values = {"session_id": "orm", "measurand": reading.measurand, "at": reading.at}
                values |= {"value": str(reading.value), "context": reading.context}
                await conn.execute(_insert(store, meter_readings).values(values).on_conflict_do_nothing())
            for bay, moment, source, state, raw in states:
                values = {"station_id": "ST-orm", "bay": bay, "at": moment, "source": source, "state": state}
                values |= {"raw": raw[:32]}
                await conn.execute(_insert(store, charging_states).values(values).on_conflict_do_nothing())
        async with SqlSessionUnitOfWork(factory) as uow:  # outside a batch: written at once
            await uow.readings.add("drv", first)
            await uow.commit()
        heartbeat = envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test", station_id="CP-1")
        statements: list[str] = []
        sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        async with TransactionBatch(factory)([heartbeat]):  # inside one: buffered, written at its commit
            async with SqlSessionUnitOfWork(factory) as uow:
                for reading in then:
                    await uow.readings.add("drv", [reading])
                for bay, moment, source, state, raw in states:
                    await uow.states.add("ST-drv", bay, moment, source, state, raw)
                await uow.commit()
        inserts = [s for s in statements if s.startswith('INSERT INTO "meter_readings"')]
        assert len(inserts) == 1 and ("unnest" in inserts[0]) == (store == "postgresql")
        readings = {
            sid: [{k: v for k, v in r.items() if k != "session_id"} for r in rows]
            for sid, rows in [
                (sid, await _rows(factory, meter_readings, meter_readings.c.session_id, [sid]))
                for sid in ("orm", "drv")
            ]
        }
        observed = {
            sid: [{k: v for k, v in r.items() if k != "station_id"} for r in rows]
            for sid, rows in [
                (sid, await _rows(factory, charging_states, charging_states.c.station_id, [sid]))
                for sid in ("ST-orm", "ST-drv")
            ]
        }
        key = lambda r: (r["at"], r.get("measurand", ""), r.get("bay", 0), r.get("source", ""))  # noqa: E731
        assert sorted(readings["drv"], key=key) == sorted(readings["orm"], key=key)
        assert sorted(observed["ST-drv"], key=key) == sorted(observed["ST-orm"], key=key)
        assert {(r["measurand"], r["at"]): r["value"] for r in readings["drv"]} == {
            (ENERGY, at[0]): "1000.5",
            (ENERGY, at[1]): "1500",
            (POWER, at[2]): "11000",
            (ENERGY, at[2]): "2000.125",
        }
        assert [r["state"] for r in sorted(observed["ST-drv"], key=key)] == ["charging", "idle"]
    finally:
        await engine.dispose()


def _insert(store: str, table: sa.Table) -> Any:
    return (postgresql.insert if store == "postgresql" else sqlite.insert)(table)
