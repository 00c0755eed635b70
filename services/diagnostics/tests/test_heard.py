"""Quiet station events answered from memory (service_layer/heard.py) leave what the batches left before: the
same history, live rows, alerts, published events and maintenance's statuses, on both stores; only
`last_seen_at` is written later (at the flush) and exactly (before, only once it moved by a second or more)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from status_store import T0, Store
from test_status_batch import state
from voltline_diagnostics.adapters.firmware_records import FirmwareRecords
from voltline_diagnostics.adapters.health_tables import stations
from voltline_diagnostics.adapters.maintenance_orm import station_firmware
from voltline_diagnostics.adapters.status_batch import InBatch, NoTransaction, PrefetchingBatch
from voltline_diagnostics.bootstrap import wire_heard
from voltline_diagnostics.domain.silence import SilenceWatch
from voltline_diagnostics.entrypoints.consumers import build_dispatcher
from voltline_diagnostics.service_layer import heard, monitor
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import (
    AuthorizeAnswered,
    ConnectorStatus,
    Heartbeat,
    StationConnected,
    StationDisconnected,
    StationTransaction,
)
from voltline_store import TransactionBatch


def story(sid: str, version: str, seed: int, count: int = 160) -> list[Envelope]:
    """A charging station's day in `count` events 0.4 s apart: mostly heartbeats, transaction updates and the
    same status again; now and then a status change, a fault, an accepted Authorize, a reconnection."""
    rng = random.Random(seed)
    out: list[Envelope] = []
    occupied = "Occupied" if version != "ocpp1.6" else "Charging"
    current = occupied

    def at(n: int, event: Any) -> Envelope:
        envelope = envelope_for(event, source="gateway/test", station_id=sid)
        return envelope.model_copy(update={"time": T0 + timedelta(milliseconds=400 * n)})

    def status(value: str, code: str | None = None) -> ConnectorStatus:
        return ConnectorStatus(ocpp_version=version, evse_id=1, connector_id=1, status=value, error_code=code)

    def transaction(kind: str = "updated") -> StationTransaction:
        return StationTransaction(
            ocpp_version=version, kind=kind, transaction_id="T-1", timestamp=T0, evse_id=1, connector_id=1,
            charging_state=None if version == "ocpp1.6" else "Charging",
        )  # fmt: skip

    out.append(at(0, StationConnected(ocpp_version=version, gateway_instance="gw")))
    out.append(at(1, status(current)))
    for n in range(2, count):
        roll = rng.random()
        if roll < 0.35:
            event: Any = transaction()
        elif roll < 0.55:
            event = Heartbeat(ocpp_version=version)
        elif roll < 0.80:
            event = status(current)  # the same report again
        elif roll < 0.86:
            current = rng.choice(["Available", occupied, "Faulted", "Unavailable"])
            event = status(current, "GroundFailure" if current == "Faulted" and version == "ocpp1.6" else None)
        elif roll < 0.90:
            event = AuthorizeAnswered(ocpp_version=version, status=rng.choice(["Accepted", "Invalid"]))
        elif roll < 0.93:
            event = transaction(rng.choice(["started", "ended"]))
        elif roll < 0.96:
            event = StationDisconnected(gateway_instance="gw", reason="closed")
        else:
            event = StationConnected(ocpp_version=version, gateway_instance="gw")
        out.append(at(n, event))
    return out


def with_memory(store: Store, held: dict[str, dict[str, str]]) -> tuple[Any, PrefetchingBatch, HealthContext]:
    """The store's handlers and batch scope with quiet events answered from memory; maintenance's statuses into
    `held` (its table: the last status per connector)."""
    ctx = replace(store.ctx, silence_watch=SilenceWatch())
    scope = PrefetchingBatch(TransactionBatch(store.sessions, inbox_consumer=CONSUMER))
    wire_heard(ctx, scope, trust_s=3600)

    async def maintenance(station_id: str, report: ConnectorStatus) -> None:
        held.setdefault(station_id, {})[str(report.connector_id)] = report.status

    return build_dispatcher(ctx, on_status=maintenance), scope, ctx


async def station_row(engine: Any, sid: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(stations).where(stations.c.station_id == sid))).one()._asdict()
    return {k: v for k, v in row.items() if k not in ("station_id", "updated_at")}


def chunks(events: list[Envelope], rng: random.Random) -> list[list[Envelope]]:
    out, i = [], 0
    while i < len(events):
        size = rng.randint(1, 12)
        out.append(events[i : i + size])
        i += size
    return out


class Pair:
    """The same events for two stations of one store: one through the batches only, one with memory."""

    def __init__(self, store: Store) -> None:
        self.store, self.held, self.old_held = store, {}, {}  # type: ignore[var-annotated]

        async def old_maintenance(station_id: str, report: ConnectorStatus) -> None:
            self.old_held.setdefault(station_id, {})[str(report.connector_id)] = report.status

        self.old = build_dispatcher(store.ctx, on_status=old_maintenance)
        self.new, self.scope, self.ctx = with_memory(store, self.held)
        self.quiet = 0

    async def batch(self, old_batch: list[Envelope], new_batch: list[Envelope], *, flush: bool = False) -> None:
        """One batch each, then the same rows (but the last seen time: written at the flush), statuses held, port."""
        engine, sid_old, sid_new = self.store.engine, old_batch[0].station_id, new_batch[0].station_id
        async with self.store.scope(old_batch):
            for envelope in old_batch:
                await self.old(envelope)
        async with self.scope(new_batch):
            for envelope in new_batch:
                self.quiet += heard.would_be_quiet(self.ctx, envelope) and not self.ctx.in_batch(str(sid_new))
                await self.new(envelope)
        if flush:
            await heard.write_heard(self.ctx)
        old_row, new_row = await station_row(engine, str(sid_old)), await station_row(engine, str(sid_new))
        assert old_row.pop("last_seen_at") <= old_batch[-1].time and new_row.pop("last_seen_at") <= new_batch[-1].time
        assert (old_row, self.old_held.get(str(sid_old))) == (new_row, self.held.get(str(sid_new)))
        assert (await state(engine, str(sid_old)))["port"] == (await state(engine, str(sid_new)))["port"]

    async def end(self, sid_old: str, sid_new: str, last: datetime) -> None:
        await heard.write_heard(self.ctx)
        engine = self.store.engine
        assert await state(engine, sid_old) == await state(engine, sid_new)
        assert (await station_row(engine, sid_new))["last_seen_at"] == last  # exact: the newest event's time
        assert (await station_row(engine, sid_old))["last_seen_at"] <= last  # moved only by a second or more


async def test_quiet_events_from_memory_leave_what_the_batches_left(store: Store) -> None:
    pair = Pair(store)
    for seed, version in ((1, "ocpp1.6"), (2, "ocpp2.0.1"), (3, "ocpp2.0.1")):
        rng = random.Random(seed)
        sid_old, sid_new = f"OLD-{seed}", f"NEW-{seed}"
        olds = chunks(story(sid_old, version, seed), rng)
        for n, batch in enumerate(chunks(story(sid_new, version, seed), random.Random(seed))):
            await pair.batch(olds[n], batch, flush=rng.random() < 0.2)
        await pair.end(sid_old, sid_new, story(sid_new, version, seed)[-1].time)
    # a batch holding any other event of the station takes all its events: with one station and one event in five
    # not quiet, about a fifth of the 480 are answered from memory here (in the field nearly every station batch)
    assert pair.quiet > 50


async def test_a_2x_transaction_at_an_available_port_and_the_status_maintenance_missed_are_not_quiet(
    store: Store,
) -> None:
    """A 2.x transaction with a vehicle makes an Available port Occupied (not quiet), and that Occupied is not
    what maintenance holds, so the station's next StatusNotification Occupied is handed to it (not quiet)."""
    pair = Pair(store)

    def script(sid: str) -> list[list[Envelope]]:
        def at(n: int, event: Any) -> Envelope:
            envelope = envelope_for(event, source="gateway/test", station_id=sid)
            return envelope.model_copy(update={"time": T0 + timedelta(seconds=n)})

        def status(value: str) -> ConnectorStatus:
            return ConnectorStatus(ocpp_version="ocpp2.0.1", evse_id=1, connector_id=1, status=value)

        tx = StationTransaction(
            ocpp_version="ocpp2.0.1", kind="updated", transaction_id="T", timestamp=T0, evse_id=1, connector_id=1,
            charging_state="Charging",
        )  # fmt: skip
        return [
            [at(0, StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw")), at(1, status("Occupied"))],
            [at(2, status("Available"))],
            [at(3, tx)],  # Available -> Occupied
            [at(4, status("Occupied"))],  # maintenance held Available
            [at(5, status("Occupied")), at(6, Heartbeat(ocpp_version="ocpp2.0.1")), at(7, tx)],  # quiet
        ]

    for old_batch, new_batch in zip(script("OLD"), script("NEW"), strict=True):
        await pair.batch(old_batch, new_batch)
    await pair.end("OLD", "NEW", T0 + timedelta(seconds=7))
    assert pair.quiet == 3
    assert pair.held["NEW"] == {"1": "Occupied"}


async def test_memory_keeps_a_station_heard_from_being_marked_unresponsive_and_the_flush_clears_a_marking(
    store: Store,
) -> None:
    """The monitor counts what was heard and not written yet; a station another instance marked unresponsive
    after this one heard it (from memory) is heard again at the flush: back online, its alert resolved."""
    held: dict[str, dict[str, str]] = {}
    dispatch, scope, ctx = with_memory(store, held)
    sid, now = "CP-SILENT", [T0]
    ctx.clock = lambda: now[0]
    first = [
        envelope_for(StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"), source="t", station_id=sid),
        envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="t", station_id=sid),
    ]
    first = [e.model_copy(update={"time": T0}) for e in first]
    async with scope(first):
        for envelope in first:
            await dispatch(envelope)

    def beat(at: datetime) -> Envelope:
        envelope = envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="t", station_id=sid)
        return envelope.model_copy(update={"time": at})

    later = [beat(T0 + timedelta(seconds=590))]  # heard from memory, not written: the store says T0
    assert heard.would_be_quiet(ctx, later[0])
    async with scope(later):
        await dispatch(later[0])
    now[0] = T0 + timedelta(seconds=700)  # past the store's 600 s limit, not past memory's
    await monitor._check_silent(ctx, sid, now[0])
    assert not (await station_row(store.engine, sid))["unresponsive"]
    # another instance marks it (the store only knows T0); this one heard it after that, from memory
    async with ctx.uow() as uow:
        assert await uow.status.mark_unresponsive({sid: now[0] - timedelta(seconds=600)}, now[0])
        await uow.commit()
    now[0] = T0 + timedelta(seconds=701)
    again = [beat(T0 + timedelta(seconds=701))]
    async with scope(again):
        await dispatch(again[0])
    assert (await station_row(store.engine, sid))["unresponsive"]
    assert await heard.write_heard(ctx) == 1
    row = await station_row(store.engine, sid)
    assert not row["unresponsive"] and row["last_seen_at"] == T0 + timedelta(seconds=701)
    events = (await state(store.engine, sid))["events"]
    assert events[-1] == "diagnostics.station_health_changed"
    assert heard.would_be_quiet(ctx, beat(T0 + timedelta(seconds=702))) is False  # forgotten until a batch


async def test_a_runs_writes_join_its_batch_or_get_a_transaction_when_it_opened_none(store: Store) -> None:
    """Maintenance's connector statuses go with the run's events (`RunWrites`): into the batch's transaction,
    undone with it; for a run answered from memory (no transaction), in one of their own."""
    scope = PrefetchingBatch(TransactionBatch(store.sessions, inbox_consumer=CONSUMER))

    def beat() -> list[Envelope]:
        return [envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="t", station_id="RW-1")]

    def record(status: str) -> Any:
        return lambda db: FirmwareRecords(db).connectors_many({"RW-1": {"1": status}})

    async def stored() -> Any:
        async with store.engine.connect() as conn:
            query = sa.select(station_firmware.c.connectors).where(station_firmware.c.station_id == "RW-1")
            return (await conn.execute(query)).scalar()

    scope.quiet = lambda envelope: True
    async with scope(beat()) as run:
        assert isinstance(run, NoTransaction)
        await run.write(record("Available"))
    assert await stored() == {"1": "Available"}
    scope.quiet = lambda envelope: False
    with pytest.raises(RuntimeError):
        async with scope(beat()) as run:
            assert isinstance(run, InBatch)
            await run.write(record("Charging"))
            raise RuntimeError("the batch failed")
    assert await stored() == {"1": "Available"}
    async with scope(beat()) as run:
        await run.write(record("Charging"))
    assert await stored() == {"1": "Charging"}
