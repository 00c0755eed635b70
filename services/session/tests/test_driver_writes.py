"""The driver-level batch writes store exactly what SQLAlchemy's statements store, on both dialects.

`save_many` (every held session of a batch) and the stations' "last seen" go through the driver's own
executemany (adapters/driver_sql.py); `save` and a touch outside a batch go through SQLAlchemy. The same
values written both ways must read back equal, column by column (JSON, booleans, floats, timestamps, NULLs).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from voltline_events import envelope_for
from voltline_events.payloads import Heartbeat
from voltline_session.adapters.orm import sessions, stations
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
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
