"""A typed Dispatcher with the store's inbox guard: decoding, narrowing and idempotency happen in the library,
and the inbox marker commits with the handler's effects, on each real database."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_bus import Dispatcher
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import Heartbeat, StationConnected
from voltline_store import TransactionBatch, UnitOfWork, inbox_guard

CONSUMER = "typed-test"


def _beat() -> Envelope:
    return envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test/1", station_id="CP-1")


async def _effects(sessions: async_sessionmaker[AsyncSession], table: sa.Table) -> list[int]:
    async with sessions() as s:
        return list((await s.execute(sa.select(table.c.seq).order_by(table.c.id))).scalars())


def _recording(sessions: async_sessionmaker[AsyncSession], effects: sa.Table, seen: list[Heartbeat]) -> Any:
    async def beat(payload: Heartbeat, envelope: Envelope) -> None:
        seen.append(payload)
        async with UnitOfWork(sessions) as uow:  # joins the guard's transaction
            await uow.session.execute(effects.insert().values(event_id=envelope.event_id, seq=len(seen)))
            await uow.commit()

    return beat


async def test_a_typed_handler_gets_its_payload_class_and_runs_once_per_event(
    sessions: async_sessionmaker[AsyncSession], schema: Any
) -> None:
    seen: list[Heartbeat] = []
    dispatcher = Dispatcher(inbox=inbox_guard(sessions, CONSUMER))
    dispatcher.on(_recording(sessions, schema.effects, seen))  # the type comes from the annotation
    assert dispatcher.event_types == {Heartbeat.TYPE}
    first, second = _beat(), _beat()
    for envelope in (first, first, second, first):  # redeliveries
        await dispatcher(envelope)
    assert [type(p) for p in seen] == [Heartbeat, Heartbeat]
    assert await _effects(sessions, schema.effects) == [1, 2]


async def test_a_failing_handler_leaves_no_marker_so_the_event_is_handled_when_it_comes_again(
    sessions: async_sessionmaker[AsyncSession], schema: Any
) -> None:
    attempts: list[int] = []

    async def flaky(payload: Heartbeat, envelope: Envelope) -> None:
        attempts.append(1)
        async with UnitOfWork(sessions) as uow:
            await uow.session.execute(schema.effects.insert().values(event_id=envelope.event_id, seq=len(attempts)))
            if len(attempts) == 1:
                raise RuntimeError("the first try fails after writing")
            await uow.commit()

    dispatcher = Dispatcher(inbox=inbox_guard(sessions, CONSUMER))
    dispatcher.on(flaky)
    envelope = _beat()
    with pytest.raises(RuntimeError):
        await dispatcher(envelope)
    await dispatcher(envelope)
    await dispatcher(envelope)
    assert len(attempts) == 2
    assert await _effects(sessions, schema.effects) == [2], "the failed try's write rolled back with its marker"


async def test_inside_a_consumers_batch_the_guard_claims_the_batch_marker(
    sessions: async_sessionmaker[AsyncSession], schema: Any
) -> None:
    seen: list[Heartbeat] = []
    dispatcher = Dispatcher(inbox=inbox_guard(sessions, CONSUMER))
    dispatcher.on(_recording(sessions, schema.effects, seen))
    one, two = _beat(), _beat()
    batch = TransactionBatch(sessions, inbox_consumer=CONSUMER)
    async with batch([one, two, one]):
        for envelope in (one, two, one):
            await dispatcher(envelope)
    async with batch([two]):  # a redelivery in a later batch
        await dispatcher(two)
    assert len(seen) == 2
    assert await _effects(sessions, schema.effects) == [1, 2]


async def test_once_false_runs_every_time_and_the_envelope_table_still_works(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    calls: list[str] = []

    async def beat(payload: Heartbeat, envelope: Envelope) -> None:
        calls.append("beat")

    async def connected(envelope: Envelope) -> None:
        calls.append("connected")

    dispatcher = Dispatcher({StationConnected.TYPE: connected}, inbox=inbox_guard(sessions, CONSUMER))
    dispatcher.on(beat, once=False)
    envelope = _beat()
    await dispatcher(envelope)
    await dispatcher(envelope)
    await dispatcher(envelope_for(StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"), source="t"))
    assert calls == ["beat", "beat", "connected"]


def test_a_handler_must_name_its_payload_class_once() -> None:
    async def untyped(payload, envelope):  # type: ignore[no-untyped-def]  # what the check refuses
        return None

    async def beat(payload: Heartbeat, envelope: Envelope) -> None:
        return None

    dispatcher = Dispatcher()
    with pytest.raises(TypeError, match="annotate"):
        dispatcher.on(untyped)
    dispatcher.on(untyped, Heartbeat)  # or says it explicitly
    with pytest.raises(ValueError, match="already has a handler"):
        dispatcher.on(beat)


async def test_a_payload_that_is_not_what_its_type_says_never_reaches_the_handler() -> None:
    called: list[StationConnected] = []

    async def connected(payload: StationConnected, envelope: Envelope) -> None:
        called.append(payload)

    dispatcher = Dispatcher()
    dispatcher.on(connected)
    mislabelled = _beat().model_copy(update={"type": StationConnected.TYPE})  # no gateway_instance
    with pytest.raises(ValidationError):
        await dispatcher(mislabelled)
    assert called == []
