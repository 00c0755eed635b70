"""The periodic work of an idle service stays small: the monitor finds silent stations from what this process
heard (a min-heap of deadlines), not by reading every online station each round, and a periodic sweep catches
those heard elsewhere (SQLite and PostgreSQL); an idle webhook round is one query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from status_store import MIGRATIONS, T0, Store, open_store
from voltline_diagnostics.adapters import views
from voltline_diagnostics.adapters.health_tables import connectors, stations
from voltline_diagnostics.adapters.status_batch import InBatch
from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
from voltline_diagnostics.domain.status import Silence
from voltline_diagnostics.entrypoints.consumers import build_dispatcher
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.monitor import check_once
from voltline_diagnostics.service_layer.webhooks import deliver_due
from voltline_events import Envelope, Topics, envelope_for
from voltline_events.payloads import Heartbeat, StationConnected, StationDisconnected
from voltline_store import Reader, create_engine, run_migrations, session_factory


def at(seconds: float, sid: str, event: object) -> Envelope:
    envelope = envelope_for(event, source="gateway/test", station_id=sid)  # type: ignore[arg-type]
    return envelope.model_copy(update={"time": T0 + timedelta(seconds=seconds)})


async def test_silent_stations_come_from_the_watch_and_the_sweep(url: str) -> None:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    now = [T0]

    def context() -> HealthContext:
        return HealthContext(
            uow=lambda: SqlDiagnosticsUnitOfWork(sessions),
            topics=Topics("t."),
            source="diagnostics/test",
            clock=lambda: now[0],
            silence=Silence(2.0, timedelta(seconds=120)),
            default_heartbeat_s=60,
            dialect=engine.dialect.name,
        )

    here, elsewhere = context(), context()  # two instances: each hears its own stations
    connect = StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")
    beat = Heartbeat(ocpp_version="ocpp1.6")
    try:
        for envelope in (at(0, "CP-QUIET", connect), at(0, "CP-BUSY", connect), at(0, "CP-GONE", connect)):
            await build_dispatcher(here)(envelope)
        await build_dispatcher(elsewhere)(at(0, "CP-OTHER", connect))
        await build_dispatcher(here)(at(100, "CP-BUSY", beat))
        await build_dispatcher(here)(at(110, "CP-GONE", StationDisconnected(gateway_instance="gw", reason="closed")))
        assert len(here.silence_watch) == 2  # CP-QUIET, CP-BUSY; CP-GONE is offline, not watched

        now[0] = T0 + timedelta(seconds=121)  # CP-QUIET and CP-OTHER silent past 120 s; CP-BUSY heard at 100 s
        await check_once(here, sweep=False)
        assert await health(here, "CP-QUIET") == (True, True)
        assert await health(here, "CP-BUSY") == (True, False)
        assert await health(here, "CP-OTHER") == (True, False), "not heard here: left to a sweep"
        assert await health(here, "CP-GONE") == (False, False)

        await check_once(here, sweep=True)
        assert await health(here, "CP-OTHER") == (True, True)

        now[0] = T0 + timedelta(seconds=221)  # CP-BUSY's deadline (100 + 120 s) passed
        await check_once(here, sweep=False)
        assert await health(here, "CP-BUSY") == (True, True)
        assert len(here.silence_watch) == 0
    finally:
        await engine.dispose()


async def health(ctx: HealthContext, sid: str) -> tuple[bool, bool]:
    async with ctx.uow() as uow:
        station = await uow.status.station(sid)
        assert station is not None
        return station.online, station.unresponsive


async def test_an_idle_delivery_round_is_one_query(sqlite_url: str) -> None:
    """The webhook worker polls every second: with nothing due it reads the due deliveries and nothing else."""
    statements: list[str] = []
    async with open_store(sqlite_url) as store:
        event.listen(store.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        async with httpx.AsyncClient() as client:
            assert await deliver_due(store.ctx, client) == 0
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "webhook_deliveries" in selects[0], selects


async def test_a_big_fleet_page_on_sqlite_reads_the_connectors_of_its_key_range_only(sqlite_url: str) -> None:
    """A page of 1,000 of a 10,000-station fleet cost as much as all of it: every connector was read."""
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    reader = Reader(engine)
    ctx = HealthContext(
        uow=lambda: None,  # type: ignore[arg-type,return-value]
        topics=Topics("t."),
        source="diagnostics/test",
        clock=lambda: T0,
        reader=reader,
    )
    sids = [f"S-{i:04d}" for i in range(1200)]
    station = {"online": True, "since": T0, "last_seen_at": T0, "unresponsive": False, "updated_at": T0}
    port = {"evse_id": 1, "connector_id": 1, "ocpp_status": "Available", "status": "Available", "since": T0}
    try:
        async with engine.begin() as conn:
            await conn.execute(stations.insert(), [{"station_id": s, **station} for s in sids])
            rows = [{"station_id": s, **port, "reported_at": T0, "short_sessions": 0} for s in sids]
            await conn.execute(connectors.insert(), rows)
        ran: list[tuple[str, Any]] = []
        sync = reader._sync  # the reader's own synchronous engine runs the page's statements
        event.listen(sync, "before_cursor_execute", lambda *a: ran.append((a[2], a[3])))
        page = await views.fleet(ctx, after="S-0099", limit=600)
    finally:
        reader.close()
        await engine.dispose()
    assert [p["station_id"] for p in page] == sids[100:700]
    assert all(len(p["connectors"]) == 1 for p in page)
    [(_, bounds)] = [(sql, params) for sql, params in ran if "FROM health_connectors" in sql]
    assert "S-0100" in bounds and "S-0699" in bounds, "the page's key range bounds its connectors"


async def test_a_batch_reads_its_stations_with_one_statement_text_on_postgres(
    pg_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 1, 2 and 3 stations read them with the same two texts (an array parameter): asyncpg prepares
    each new text (a round trip more), and IN lists as long as the batch made one for every batch size. The
    status batch's statements go to the driver (status_batch_pg), so they are seen there."""
    from voltline_diagnostics.adapters import status_batch_pg

    engine, dispatch, scope = pg_store.engine, pg_store.dispatch, pg_store.scope
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    driver = status_batch_pg.driver

    async def spied(session: Any) -> Any:
        pg = await driver(session)

        class Spy:
            def __getattr__(self, name: str) -> Any:
                call = getattr(pg, name)
                if name not in ("fetch", "execute", "executemany"):
                    return call
                return lambda sql, *args: statements.append(sql) or call(sql, *args)

        return Spy()

    monkeypatch.setattr(status_batch_pg, "driver", spied)
    connect = StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")
    for size in (1, 2, 3):
        batch = [at(0, f"CP-{size}-{n}", connect) for n in range(size)]
        async with scope(batch):
            for envelope in batch:
                await dispatch(envelope)
    reads = {s for s in statements if s.lstrip().upper().startswith("SELECT") and "health_" in s.split("FROM")[1]}
    assert len(reads) == 2, reads
    writes = [s for s in statements if s.startswith("INSERT INTO health_")]  # new stations, presence intervals
    assert len(writes) == 6 and len(set(writes)) == 2, writes  # one executemany per kind per batch, one text


def test_a_retry_that_fell_due_during_the_round_is_attempted_at_once() -> None:
    """The delivery worker waits until its earliest retry; one that fell due while the round ran (a loaded
    machine) means no wait, not a whole poll (it was dropped as past, and a 120 s poll left it waiting)."""
    from types import SimpleNamespace

    from voltline_diagnostics.service_layer.webhooks import DeliveryWorker

    now = T0
    worker = DeliveryWorker(SimpleNamespace(clock=lambda: now), poll=120)  # type: ignore[arg-type]
    worker._retries = [T0 - timedelta(milliseconds=5), T0 + timedelta(seconds=3)]
    assert worker._next_wait() == 0.0
    assert worker._next_wait() == 3.0  # the one still ahead is kept
    worker._retries = []
    assert worker._next_wait() == 120


async def test_a_stuck_session_whose_progress_a_batch_is_committing_keeps_its_resolution(pg_store: Store) -> None:
    """The monitor read a session's old progress while a consumer batch was committing new progress and the
    alert's resolution; its update of the (still open) alert waited for that commit, then overwrote the
    resolution: the alert stayed open (test_sessions failed so once under load). The monitor now skips the
    sessions a batch holds (judged again at its next round)."""
    import asyncio
    import contextvars

    from voltline_diagnostics.domain.alerts import configure
    from voltline_events.payloads import SessionStarted, SessionUpdated

    rules = configure({"session_stuck": {"after_s": 1}})
    store, sid = pg_store, "CP-RACE"
    store.ctx.rules = rules
    monitor = HealthContext(
        uow=store.ctx.uow,
        topics=store.ctx.topics,
        source="diagnostics/test",
        clock=lambda: T0 + timedelta(seconds=5),
        rules=rules,
        dialect="postgresql",
    )

    def progress(wh: int) -> SessionUpdated:
        return SessionUpdated(session_id="race-1", station_id=sid, energy_wh=wh, at=T0, charging_state="charging")

    await store.dispatch(
        at(0, sid, SessionStarted(session_id="race-1", station_id=sid, evse_id=1, connector_id=1, started_at=T0))
    )
    await store.dispatch(at(0, sid, progress(500)))
    await check_once(monitor, sweep=False)
    assert await stuck_alerts(monitor, sid) == ["open"]

    grown = at(4, sid, progress(900))
    async with store.scope([grown]) as batch:
        await store.dispatch(grown)  # progress saved and the alert resolved: written, not committed yet
        assert isinstance(batch, InBatch)  # the progress is a change: the run has a transaction of its own
        await batch.batch.session.flush()
        # The monitor's own task, outside the batch (as in the service): a copy of this context would join it.
        round_ = asyncio.create_task(check_once(monitor, sweep=False), context=contextvars.Context())
        # Without the lock its alert update waits for this commit (then overwrites it): give it the chance.
        await asyncio.wait([round_], timeout=2)
    await round_
    assert await stuck_alerts(monitor, sid) == ["resolved"]


async def stuck_alerts(ctx: HealthContext, sid: str) -> list[str]:
    from voltline_diagnostics.adapters.health_tables import alerts

    async with ctx.uow() as uow:
        rows = await uow.session.execute(  # type: ignore[attr-defined]
            sa.select(alerts.c.status).where(alerts.c.station_id == sid, alerts.c.rule == "session_stuck")
        )
        return [r.status for r in rows]
