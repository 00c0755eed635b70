"""The status handlers give the same history, live rows, alerts and events whether a station's events come one
transaction each or many in one batch (rows read once, written in bulk at the commit), on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from voltline_diagnostics.adapters.health_tables import alerts, connectors, presence_history, stations, status_history
from voltline_diagnostics.adapters.status_batch import PrefetchingBatch
from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
from voltline_diagnostics.entrypoints.consumers import build_dispatcher
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_events import Envelope, Topics, envelope_for
from voltline_events.payloads import BootNotification, ConnectorStatus, StationConnected, StationDisconnected
from voltline_store import TransactionBatch, create_engine, outbox_table, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_diagnostics" / "migrations"
T0 = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@dataclass
class Store:
    engine: Any
    dispatch: Callable[[Envelope], Awaitable[None]]
    scope: PrefetchingBatch  # a batch as the consumer opens it


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    """A migrated diagnostics store and the consumer's dispatcher over it."""
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    ctx = HealthContext(
        uow=lambda: SqlDiagnosticsUnitOfWork(sessions),
        topics=Topics("t."),
        source="diagnostics/test",
        clock=lambda: T0,
        dialect=engine.dialect.name,
    )
    dispatch = build_dispatcher(ctx)
    scope = PrefetchingBatch(TransactionBatch(sessions, inbox_consumer=CONSUMER))
    try:
        yield Store(engine, dispatch, scope)
    finally:
        await engine.dispose()


def story(sid: str) -> list[Envelope]:
    """A port changing four times (one fault), the station dropping and coming back; a second after another."""

    def at(n: int, event: Any) -> Envelope:
        envelope = envelope_for(event, source="gateway/test", station_id=sid)
        return envelope.model_copy(update={"time": T0 + timedelta(seconds=n)})

    def status(value: str, code: str = "NoError") -> ConnectorStatus:
        return ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code=code)

    return [
        at(0, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")),
        at(1, status("Available")),
        at(2, status("Charging")),
        at(3, status("Faulted", "GroundFailure")),
        at(4, status("Available")),
        at(5, StationDisconnected(gateway_instance="gw", reason="closed")),
        at(6, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")),
        at(7, status("Preparing")),
    ]


async def state(engine: Any, sid: str) -> dict[str, Any]:
    async with engine.connect() as conn:

        def rows(query: Any) -> Any:
            return conn.execute(query)

        h = status_history.c
        history = (
            await rows(sa.select(h.status, h.started_at, h.ended_at).where(h.station_id == sid).order_by(h.id))
        ).all()
        p = presence_history.c
        presence = (
            await rows(sa.select(p.online, p.started_at, p.ended_at).where(p.station_id == sid).order_by(p.id))
        ).all()
        port = (
            await rows(sa.select(connectors.c.status, connectors.c.since).where(connectors.c.station_id == sid))
        ).all()
        alert = (await rows(sa.select(alerts.c.rule, alerts.c.status).where(alerts.c.station_id == sid))).all()
        events = (
            await rows(sa.select(sa.func.count()).select_from(outbox_table).where(outbox_table.c.key == sid.encode()))
        ).scalar()
    return {"history": history, "presence": presence, "port": port, "alerts": alert, "events": events}


async def test_a_batch_leaves_what_one_transaction_per_event_leaves(store: Store) -> None:
    engine, dispatch, scope = store.engine, store.dispatch, store.scope
    for envelope in story("CP-ONE"):  # one transaction each
        await dispatch(envelope)
    first, second = story("CP-BATCH")[:6], story("CP-BATCH")[6:]
    for batch in (first, second):  # the second batch changes rows the first one stored
        async with scope(batch):
            for envelope in batch:
                await dispatch(envelope)
    one, batched = await state(engine, "CP-ONE"), await state(engine, "CP-BATCH")
    assert one == batched
    assert [(s, e is None) for s, _, e in one["history"]] == [
        ("Available", False), ("Occupied", False), ("Faulted", False), ("Available", False), ("Occupied", True)
    ]  # fmt: skip
    assert all(a[2] == b[1] for a, b in zip(one["history"], one["history"][1:], strict=False))
    assert [(online, e is None) for online, _, e in one["presence"]] == [
        (True, False),
        (False, False),
        (True, True),
    ]
    assert one["port"] == [("Occupied", T0 + timedelta(seconds=7))]
    assert one["alerts"] == [("connector_faulted", "resolved")]
    assert one["events"] >= 8  # four changes, offline/online and their Unknown/known ports, the alert


async def test_a_booted_stations_inventory_survives_the_next_batches(store: Store) -> None:
    """The JSON columns (modem, meter) written by one batch are read back as objects by the next (on
    PostgreSQL the batch reads and writes them through the driver, not SQLAlchemy's JSON type)."""
    engine, dispatch, scope = store.engine, store.dispatch, store.scope
    raw = {"chargePointVendor": "ACME", "chargePointModel": "V1", "iccid": "8931", "meterType": "M-1"}
    boot = BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="V1", firmware_version="1.0", raw=raw)
    later = story("CP-INV")
    for batch in ([envelope_for(boot, source="gateway/test", station_id="CP-INV"), *later[:2]], later[2:]):
        async with scope(batch):
            for envelope in batch:
                await dispatch(envelope)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(stations).where(stations.c.station_id == "CP-INV"))).one()
    assert (row.modem, row.meter, row.vendor) == ({"iccid": "8931"}, {"meterType": "M-1"}, "ACME")
    assert (await state(engine, "CP-INV"))["port"] == [("Occupied", T0 + timedelta(seconds=7))]
