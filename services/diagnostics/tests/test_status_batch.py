"""The status handlers give the same history, live rows, alerts and events whether a station's events come one
transaction each or many in one batch (rows read once, written in bulk at the commit), on both stores."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from status_store import T0, Store
from voltline_diagnostics.adapters.health_tables import alerts, connectors, presence_history, stations, status_history
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import BootNotification, ConnectorStatus, StationConnected, StationDisconnected
from voltline_store import outbox_table


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
        values = (await rows(sa.select(outbox_table.c.value).order_by(outbox_table.c.id))).scalars().all()
    return {"history": history, "presence": presence, "port": port, "alerts": alert, "events": published(values, sid)}


def published(values: Any, sid: str) -> list[Any]:
    """The station's events in the order they leave, a status change as its fields whichever event carries it
    (a batch groups them in `connector_statuses_changed` events, one at a time each is its own)."""
    out: list[Any] = []
    for value in values:
        envelope = Envelope.from_bytes(value)
        if envelope.type == "diagnostics.connector_statuses_changed":
            changes = [c for c in envelope.payload["changes"] if c.pop("station_id") == sid]
            out.extend(sorted(c.items()) for c in changes)
        elif envelope.station_id == sid:
            out.append(envelope.type)
    return out


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
    # five changes, offline and online with their ports, the fault's alert after its change and resolved after the next
    assert [e if isinstance(e, str) else dict(e)["status"] for e in one["events"]] == [
        "Available", "Occupied", "Faulted", "diagnostics.alert_opened", "Available", "diagnostics.alert_resolved",
        "diagnostics.station_health_changed", "Unknown", "diagnostics.station_health_changed", "Available", "Occupied",
    ]  # fmt: skip


def heard_again(sid: str) -> list[Envelope]:
    """After `story`: the same status reported again two seconds later (the station only heard), then a change."""
    report = [("Preparing", 9), ("Available", 11)]
    return [
        envelope_for(
            ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code="NoError"),
            source="gateway/test",
            station_id=sid,
        ).model_copy(update={"time": T0 + timedelta(seconds=n)})
        for value, n in report
    ]


async def station_row(engine: Any, sid: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(stations).where(stations.c.station_id == sid))).one()._asdict()
    return {k: v for k, v in row.items() if k not in ("station_id", "updated_at")}


async def test_a_station_only_heard_is_touched_and_left_as_one_transaction_leaves_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a batch's station whose only change is `last_seen_at` gets that one column written, not
    its whole row (split_touched): the rows it leaves are those the one-transaction path leaves."""
    from voltline_diagnostics.adapters import status_batch_pg

    touched: list[str] = []
    split = status_batch_pg.split_touched

    def spied(changed: Any, loaded: Any) -> Any:
        whole, only_seen = split(changed, loaded)
        touched.extend(s.station_id for s in only_seen)
        return whole, only_seen

    monkeypatch.setattr(status_batch_pg, "split_touched", spied)
    engine, dispatch, scope = store.engine, store.dispatch, store.scope
    for envelope in [*story("CP-ONE"), *heard_again("CP-ONE")]:
        await dispatch(envelope)
    events = story("CP-BATCH")
    for batch in (events[:6], events[6:], heard_again("CP-BATCH")[:1], heard_again("CP-BATCH")[1:]):
        async with scope(batch):
            for envelope in batch:
                await dispatch(envelope)
    assert await station_row(engine, "CP-ONE") == await station_row(engine, "CP-BATCH")
    assert await state(engine, "CP-ONE") == await state(engine, "CP-BATCH")
    assert (await station_row(engine, "CP-BATCH"))["last_seen_at"] == T0 + timedelta(seconds=11)
    if engine.dialect.name == "postgresql":
        assert touched == ["CP-BATCH", "CP-BATCH"]  # the two later batches: heard, and heard with a change


def test_only_a_changed_last_seen_at_is_a_touch() -> None:
    from dataclasses import replace

    from voltline_diagnostics.adapters.status_batch_pg import split_touched, station_fields
    from voltline_diagnostics.service_layer.ports import StationRow

    before = StationRow("CP-1", online=True, since=T0, last_seen_at=T0, modem={"iccid": "1"})
    loaded = {"CP-1": station_fields(before), "CP-2": station_fields(replace(before, station_id="CP-2"))}
    seen = replace(before, last_seen_at=T0 + timedelta(seconds=2))
    rebooted = replace(before, station_id="CP-2", last_seen_at=T0 + timedelta(seconds=2), boot_reason="PowerUp")
    unknown = replace(before, station_id="CP-3")  # not read by this batch: written whole
    assert split_touched([seen, rebooted, unknown], loaded) == ([rebooted, unknown], [seen])
    assert split_touched([replace(before, modem={"iccid": "2"})], loaded) == (
        [replace(before, modem={"iccid": "2"})],
        [],
    )


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


async def test_the_relay_is_woken_once_for_the_commits_of_a_moment(store: Store) -> None:
    """A fetch is a batch per partition, each committing on its own: their commits wake the relay once,
    `linger_s` after the first; a batch that published nothing does not wake it, nor one that failed."""
    import asyncio

    from voltline_devinfra.waiting import eventually
    from voltline_diagnostics.adapters.status_batch import LingeringWake, PrefetchingBatch
    from voltline_diagnostics.service_layer.context import CONSUMER
    from voltline_store import TransactionBatch

    woken: list[float] = []
    loop = asyncio.get_running_loop()
    wake = LingeringWake(lambda: woken.append(loop.time()), 0.2)
    scope = PrefetchingBatch(TransactionBatch(store.sessions, inbox_consumer=CONSUMER), wake=wake)
    committed = []
    for sid in ("CP-W1", "CP-W2", "CP-W3"):  # three batches, each with a change to publish
        batch = story(sid)[:2]
        async with scope(batch):
            for envelope in batch:
                await store.dispatch(envelope)
        committed.append(loop.time())
    assert woken == [] and wake.pending  # not yet: the linger runs from the first commit
    await eventually(lambda: woken, what="the relay woken")
    assert len(woken) == 1 and woken[0] - committed[0] >= 0.2 and not wake.pending
    with pytest.raises(RuntimeError):
        async with scope(story("CP-W4")[:2]):
            await store.dispatch(story("CP-W4")[0])
            await store.dispatch(story("CP-W4")[1])
            raise RuntimeError("the batch fails after a change")
    quiet = [story("CP-W1")[0]]  # connected again: a known station, nothing to publish
    async with scope(quiet):
        await store.dispatch(quiet[0])
    assert not wake.pending and len(woken) == 1


async def test_an_inventory_request_keeps_the_boot_answer_a_batch_committed_meanwhile(pg_store: Store) -> None:
    """The first-boot inventory round reads the station (no lock), then marks it asked; a consumer batch
    committing the station's boot answer in between is kept (the round used to write back the whole row it had
    read: boot status and heartbeat interval back to what they were, the e2e flake under load)."""
    from dataclasses import replace

    from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
    from voltline_diagnostics.service_layer.inventory import request_inventory
    from voltline_diagnostics.service_layer.ports import Answer
    from voltline_events.payloads import BootAnswered

    store, sid = pg_store, "CP-INV-RACE"
    boot = BootNotification(ocpp_version="ocpp2.0.1", vendor="ACME", model="V1", raw={})
    await store.dispatch(envelope_for(boot, source="gateway/test", station_id=sid))
    answered = BootAnswered(ocpp_version="ocpp2.0.1", status="Accepted", interval=7, fallback=False)

    class BatchCommitsAfterTheRead(SqlDiagnosticsUnitOfWork):
        async def __aenter__(self) -> Any:
            entered = await super().__aenter__()
            read = self.status.station

            async def station(station_id: str) -> Any:
                row = await read(station_id)
                async with store.scope([envelope := envelope_for(answered, source="gw", station_id=sid)]):
                    await store.dispatch(envelope)
                return row

            self.status.station = station  # type: ignore[method-assign]
            return entered

    class Silent:
        async def ask(self, station_id: str, action: str, payload: dict[str, Any], version: str | None) -> Answer:
            return Answer(outcome="timeout")

    ctx = replace(store.ctx, uow=lambda: BatchCommitsAfterTheRead(store.sessions))
    assert (await request_inventory(ctx, Silent(), sid))["outcome"] == "timeout"
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(stations).where(stations.c.station_id == sid))).one()
    assert (row.boot_status, row.heartbeat_interval_s, row.report_requested_at) == ("Accepted", 7, T0)


async def test_a_batchs_reads_are_planned_for_their_stations_not_once_for_an_empty_store(pg_store: Store) -> None:
    """The batch's two reads get a plan for their array's values each time: a store created empty used to
    settle, after five reads, on the generic plan made for empty tables (a sequential scan matching every row
    against the whole array, 46-63 ms a read at 10,000 stations) and keep it until an ANALYZE. The writes
    after the reads keep the connection's cached plans."""
    from voltline_diagnostics.adapters import status_batch_pg

    async with pg_store.sessions() as session, session.begin():
        for n in range(8):
            await status_batch_pg.read(session, [f"CP-PLAN-{n}", "CP-PLAN-X"])
        pg = await status_batch_pg.driver(session)
        plans = {
            r["statement"]: (r["generic_plans"], r["custom_plans"])
            for r in await pg.fetch("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        }
        assert plans[status_batch_pg.SELECT_STATIONS] == (0, 8)
        assert plans[status_batch_pg.SELECT_PORTS] == (0, 8)
        assert await pg.fetchval("SHOW plan_cache_mode") == "auto"
