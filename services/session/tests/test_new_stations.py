"""Stations a batch hears first: created in memory, written at the commit, in statements per batch, not per station.

A station's connect, boot and start cost about seven statements each (its row inserted and read back, its
presence updated, its session looked up, a remote start looked up, the session inserted, the bay's active
sessions read). Inside a consumer batch the station's row is written with the batch's "last seen", a station
that had no row has no sessions to look up, the bay's active sessions come from the batch's locked copy, one
query per batch says which stations have a remote start waiting and the new sessions are inserted together at
the commit (adapters/stations.py, adapters/repository.py, ADR 0040).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from voltline_events import Envelope, Topics, envelope_for
from voltline_events.payloads import BootNotification, IdToken, StationConnected, StationTransaction
from voltline_session.adapters.orm import stations
from voltline_session.adapters.stations import StationsRaced
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
from voltline_session.entrypoints.consumers import build_dispatcher
from voltline_session.service_layer.context import CONSUMER, SessionContext
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_session" / "migrations"
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def setup_events(station_id: str, n: int) -> list[Envelope]:
    start = StationTransaction(
        ocpp_version="ocpp1.6",
        kind="started",
        transaction_id=str(n),
        timestamp=T0,
        connector_id=1,
        id_token=IdToken(id_token=f"TAG-{n}", type="ISO14443"),
        meter_start_wh=0,
    )
    connected = StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")
    boot = BootNotification(ocpp_version="ocpp1.6", vendor="V", model="M", raw={})
    return [envelope_for(e, source="gw", station_id=station_id) for e in (connected, boot, start)]


async def test_a_batch_of_new_stations_costs_statements_per_batch_not_per_station(sqlite_url: str) -> None:
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    ctx = SessionContext(uow=lambda: SqlSessionUnitOfWork(factory), topics=Topics(""), source="test", clock=lambda: T0)
    handle = build_dispatcher(ctx)
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        envelopes = [e for n in range(12) for e in setup_events(f"NEW-{n}", n)]
        async with TransactionBatch(factory, inbox_consumer=CONSUMER)(envelopes):
            for envelope in envelopes:
                await handle(envelope)
        kinds = [" ".join(s.replace('"', "").split()[:3]) for s in statements]  # driver SQL quotes its names
        assert kinds.count("INSERT INTO stations") == 1  # every new station in one statement, at the commit
        assert not [k for k in kinds if k.startswith("UPDATE stations")]  # their presence is in that row
        assert len([k for k in kinds if "remote_starts" in k]) == 1  # one look for waiting remote starts
        assert len([k for k in kinds if k.startswith("SELECT sessions")]) == 1  # the batch's copy, read once
        assert kinds.count("INSERT INTO sessions") == 1  # every new session in one executemany, at the commit
        assert kinds.count("INSERT INTO outbox") == 1  # and their session.started announcements in one
        async with factory() as db:
            rows = (await db.execute(sa.select(stations).order_by(stations.c.station_id))).all()
        assert len(rows) == 12
        assert all(r.connected and r.ocpp_version == "ocpp1.6" and r.presence_at is not None for r in rows)
    finally:
        await engine.dispose()


async def test_a_station_row_made_meanwhile_fails_the_batch_instead_of_being_overwritten(pg_url: str) -> None:
    """Only the consumer that owns a station's partition creates its row; should another have made it while the
    batch ran (two consumers during a rebalance), the batch's commit fails (its events then go one at a time)."""
    await run_migrations(pg_url, MIGRATIONS)
    engine = create_engine(pg_url)
    factory = session_factory(engine)
    elsewhere = session_factory(engine)  # its units of work do not join the batch
    seen = T0 + timedelta(minutes=5)
    try:
        (heard,) = setup_events("RACED", 1)[:1]
        with pytest.raises(StationsRaced):
            async with TransactionBatch(factory)([heard]):
                async with SqlSessionUnitOfWork(factory) as uow:
                    await uow.stations.touch("RACED", seen, "ocpp1.6", seen)  # new to us: in memory only
                    await uow.commit()
                async with SqlSessionUnitOfWork(elsewhere) as other:  # another consumer's transaction, committed
                    await other.stations.touch("RACED", T0, "ocpp2.0.1", T0)
                    await other.commit()
        async with factory() as db:
            row: Any = (await db.execute(sa.select(stations).where(stations.c.station_id == "RACED"))).one()
        assert (row.ocpp_version, row.last_seen_at) == ("ocpp2.0.1", T0)  # the other's row, not overwritten
    finally:
        await engine.dispose()
