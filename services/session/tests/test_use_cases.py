"""The session use cases on in-memory fakes (session_store_fakes): no Kafka, no database, milliseconds each.

What travels over Kafka and HTTP, what the SQL repositories and the consumer batches do, is proven by the
integration tests (test_lifecycle, test_endings, test_remote, test_batch_equivalence); these prove the
rules of the use cases themselves: a transaction's start, meter values and end become sessions and events,
a redelivery or a resent message changes nothing, a session the station will never end is ended for a
named reason, and a remote start records what the station answered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from session_store_fakes import NOW, FakeAuthorizer, FakeCommands, Fakes, fake_session
from voltline_events import decode_payload
from voltline_events.payloads import IdToken, MeterSample, SampledValue, StationTransaction
from voltline_session.domain.remote import StartRequest
from voltline_session.domain.session import CONNECTOR_REUSED, STATION_REBOOTED, Session
from voltline_session.service_layer.endings import confirm_sessions
from voltline_session.service_layer.ports import SessionFilter
from voltline_session.service_layer.recording import record_presence, record_transaction
from voltline_session.service_layer.remote import CommandAnswer, GatewayUnanswered, TokenNotAccepted, remote_start

V201 = "ocpp2.0.1"
V16 = "ocpp1.6"


@pytest.fixture
def fakes() -> Fakes:
    return fake_session()


def tx(
    kind: str,
    transaction_id: str = "T1",
    *,
    minute: int = 0,
    register_wh: int | None = None,
    version: str = V201,
    seq_no: int | None = None,
    **extra: Any,
) -> StationTransaction:
    """A transaction event as the gateway publishes it (2.x: evse 1; 1.6: connector 1)."""
    at = NOW + timedelta(minutes=minute)
    samples = []
    if register_wh is not None:
        value = SampledValue(value=str(register_wh), measurand="Energy.Active.Import.Register", unit="Wh")
        samples = [MeterSample(timestamp=at, values=[value])]
    return StationTransaction(
        ocpp_version=version,
        kind=kind,
        transaction_id=transaction_id,
        timestamp=at,
        evse_id=1 if version != V16 else None,
        connector_id=1,
        id_token=IdToken(id_token="TAG-1", type="ISO14443") if kind == "started" else None,
        seq_no=seq_no,
        meter_values=samples,
        **extra,
    )


async def record(fakes: Fakes, event: StationTransaction, station_id: str = "CP-1", event_id: Any = None) -> None:
    await record_transaction(fakes.ctx, station_id, event_id or uuid4(), fakes.clock(), event)


def announced(fakes: Fakes) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload) of what was published to the sessions topic, in order."""
    return [(e.type, decode_payload(e).model_dump()) for e in fakes.published(fakes.ctx.topics.sessions)]


async def sessions(fakes: Fakes) -> dict[str, Session]:
    """The stored sessions by transaction id."""
    async with fakes.uow() as uow:
        return {s.transaction_id: s for s in await uow.sessions.list(SessionFilter(), limit=100, offset=0)}


async def test_a_started_transaction_opens_a_session_and_announces_it(fakes: Fakes) -> None:
    await record(fakes, tx("started", seq_no=0, register_wh=1000))

    [(kind, started)] = announced(fakes)
    assert kind == "session.started"
    assert (started["station_id"], started["transaction_id"], started["id_token"]) == ("CP-1", "T1", "TAG-1")
    session = (await sessions(fakes))["T1"]
    assert session.active and session.start_seen and session.session_id == started["session_id"]
    async with fakes.uow() as uow:
        station = await uow.stations.get("CP-1")
    assert station is not None and station.ocpp_version == V201


async def test_meter_values_add_energy_and_the_end_announces_the_total(fakes: Fakes) -> None:
    await record(fakes, tx("started", version=V16, meter_start_wh=1000, register_wh=1000))
    fakes.clock.advance(timedelta(minutes=10))
    await record(fakes, tx("updated", version=V16, minute=10, register_wh=4000))
    fakes.clock.advance(timedelta(minutes=10))
    await record(fakes, tx("ended", version=V16, minute=20, register_wh=6000, meter_stop_wh=6000, stop_reason="Local"))

    kinds = [kind for kind, _ in announced(fakes)]
    assert kinds == ["session.started", "session.updated", "session.ended"]
    updated, ended = announced(fakes)[1][1], announced(fakes)[2][1]
    assert updated["energy_wh"] == 3000
    assert (ended["energy_wh"], ended["stop_reason"], ended["ended_by"], ended["revision"]) == (
        5000,
        "Local",
        "station",
        1,
    )
    assert not (await sessions(fakes))["T1"].active


async def test_a_redelivered_event_or_a_resent_message_changes_nothing(fakes: Fakes) -> None:
    event_id = uuid4()
    await record(fakes, tx("started", seq_no=0, register_wh=1000), event_id=event_id)
    await record(fakes, tx("updated", seq_no=1, minute=5, register_wh=2000))
    state = (await sessions(fakes))["T1"], len(fakes.store.published)

    await record(fakes, tx("started", seq_no=0, register_wh=1000), event_id=event_id)  # the bus again
    fakes.clock.advance(timedelta(minutes=5))
    await record(fakes, tx("updated", seq_no=1, minute=5, register_wh=9000))  # the station again, same seqNo

    assert ((await sessions(fakes))["T1"], len(fakes.store.published)) == state
    async with fakes.uow() as uow:
        readings = await uow.readings.for_session(state[0].session_id)
    assert [int(r.value) for r in readings] == [1000, 2000]


async def test_a_new_transaction_on_the_bay_ends_the_older_one_as_connector_reused(fakes: Fakes) -> None:
    await record(fakes, tx("started", "T1", seq_no=0))
    fakes.clock.advance(timedelta(minutes=30))
    await record(fakes, tx("started", "T2", minute=30, seq_no=0))

    found = await sessions(fakes)
    assert not found["T1"].active and found["T2"].active
    [ended] = [p for kind, p in announced(fakes) if kind == "session.ended"]
    assert (ended["transaction_id"], ended["stop_reason"], ended["ended_by"]) == ("T1", CONNECTOR_REUSED, "voltline")
    assert "transaction T2 started on the same EVSE" in ended["end_detail"]


async def test_after_a_reboot_the_new_transaction_ends_the_old_one_as_station_rebooted(fakes: Fakes) -> None:
    await record(fakes, tx("started", "T1", seq_no=0))
    fakes.clock.advance(timedelta(minutes=1))
    await record_presence(fakes.ctx, "CP-1", uuid4(), fakes.clock(), ocpp_version=V201, connected=None, booted=True)
    assert (await sessions(fakes))["T1"].doubt == "rebooted"

    await record(fakes, tx("started", "T2", minute=2, seq_no=0))

    [ended] = [p for kind, p in announced(fakes) if kind == "session.ended"]
    assert (ended["transaction_id"], ended["stop_reason"]) == ("T1", STATION_REBOOTED)


async def test_a_rebooted_station_that_never_confirms_ends_its_session_after_the_grace(fakes: Fakes) -> None:
    await record(fakes, tx("started", "T1", seq_no=0))
    await record_presence(fakes.ctx, "CP-1", uuid4(), fakes.clock(), ocpp_version=V201, connected=None, booted=True)
    commands = FakeCommands(silent=True)

    assert await confirm_sessions(fakes.ctx, commands) == 0  # asked, not answered: the grace decides
    assert [action for _, action, _ in commands.sent] == ["GetTransactionStatus"]
    fakes.clock.advance(fakes.ctx.confirm_grace + timedelta(seconds=1))
    assert await confirm_sessions(fakes.ctx, commands) == 1

    [ended] = [p for kind, p in announced(fakes) if kind == "session.ended"]
    assert (ended["stop_reason"], ended["ended_by"]) == (STATION_REBOOTED, "voltline")


async def test_an_accepted_remote_start_is_linked_to_the_session_it_caused(fakes: Fakes) -> None:
    await record_presence(fakes.ctx, "CP-1", uuid4(), fakes.clock(), ocpp_version=V201, connected=True)

    async def station_starts(action: str, payload: dict[str, Any]) -> None:  # before the answer arrives
        await record(fakes, tx("started", seq_no=0, remote_start_id=payload["remoteStartId"]))

    auth, commands = FakeAuthorizer(), FakeCommands(during=station_starts)
    outcome = await remote_start(fakes.ctx, auth, commands, StartRequest("CP-1", "TAG-1", evse_id=1), by="app")

    assert outcome.verdict.accepted and outcome.driver_id == "driver-1"
    session = (await sessions(fakes))["T1"]
    assert outcome.session_id == session.session_id and session.remote_start_id == outcome.remote_start_id
    assert session.driver_id == "driver-1"  # from auth's answer, through the remote start
    async with fakes.uow() as uow:
        start = await uow.remote_starts.get(outcome.remote_start_id or 0)
    assert start is not None and (start.status, start.session_id) == ("accepted", session.session_id)


async def test_a_rejected_or_unanswered_remote_start_is_recorded_as_such(fakes: Fakes) -> None:
    await record_presence(fakes.ctx, "CP-1", uuid4(), fakes.clock(), ocpp_version=V201, connected=True)
    request = StartRequest("CP-1", "TAG-1", evse_id=1)
    rejected = FakeCommands(answers={"RequestStartTransaction": CommandAnswer("answered", {"status": "Rejected"})})

    outcome = await remote_start(fakes.ctx, FakeAuthorizer(), rejected, request, by="app")
    with pytest.raises(GatewayUnanswered):
        await remote_start(fakes.ctx, FakeAuthorizer(), FakeCommands(silent=True), request, by="app")

    assert outcome.verdict.kind == "rejected" and outcome.session_id is None
    async with fakes.uow() as uow:
        starts = [await uow.remote_starts.get(i) for i in (1, 2)]
    assert [(s.status, s.session_id) for s in starts if s] == [("rejected", None), ("failed", None)]


async def test_a_token_auth_refuses_is_never_sent_to_the_station(fakes: Fakes) -> None:
    await record_presence(fakes.ctx, "CP-1", uuid4(), fakes.clock(), ocpp_version=V201, connected=True)
    commands = FakeCommands()

    with pytest.raises(TokenNotAccepted):
        await remote_start(fakes.ctx, FakeAuthorizer(status="Blocked"), commands, StartRequest("CP-1", "X"), by="app")

    assert commands.sent == [] and fakes.store.tables["remote_starts"] == {}
