"""Authorize answered by the gateway from the auth service's published decisions, over real Kafka (ADR 0015).

The records are published here as the auth service publishes them (auth's own tests check that they equal its
answers); the fake auth service answers whatever the gateway still asks, so each test can tell which path
answered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from gateway_testing import EventLog, FakeAuth, RunningGateway, charger, eventually, running_gateway
from voltline_events import decode_payload, envelope_for
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizationRequested,
    AuthorizeAnswered,
    StationTransaction,
    TokenDecisions,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(kafka: Any) -> AsyncIterator[tuple[RunningGateway, FakeAuth, EventLog]]:
    prefix = f"gwl-{uuid.uuid4().hex[:6]}."
    async with running_gateway(kafka, prefix) as gateway:
        auth, log = FakeAuth(kafka, prefix), EventLog(kafka, prefix)
        await auth.start()
        await log.start()
        try:
            yield gateway, auth, log
        finally:
            await log.stop()
            await auth.stop()


async def publish(auth: FakeAuth, value: str, status: str | None, valid_until: datetime | None = None) -> None:
    """A record as auth publishes it: the same answer for 1.6 and every 2.x type (None: not registered)."""
    answers = {} if status is None else {"ocpp1.6": status, "ISO14443": status, "Local": status}
    record = TokenDecisions(
        id_token=value,
        decisions={k: AuthorizationDecision(status=v, group_id_token="G-1") for k, v in answers.items()},  # type: ignore[arg-type]
        valid_until=valid_until,
        decided_at=datetime.now(UTC),
    )
    envelope = envelope_for(record, source="auth/fake")
    await auth.producer.publish(auth.topics.auth_decisions, envelope, key=value.encode())


def asked_about(auth: FakeAuth, value: str) -> int:
    return sum(isinstance(r, AuthorizationRequested) and r.id_token.id_token == value for r in auth.asked)


async def test_a_published_token_is_answered_without_asking_and_a_block_applies_within_a_second(system: Any) -> None:
    gateway, auth, log = system
    await auth.register("CP-L1")
    auth.tokens["CARD-L1"] = "Invalid"  # what auth would say if asked: the test sees which path answered
    await publish(auth, "CARD-L1", "Accepted")
    await eventually(lambda: gateway.internals.registry.get("CP-L1") is not None)
    async with charger(gateway.ocpp_url, "CP-L1") as cp:
        assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"

        async def status(value: str = "card-l1") -> str:  # id tokens are case-insensitive
            return str((await cp.call("Authorize", {"idTag": value}))[2]["idTagInfo"]["status"])

        await eventually(lambda: _is(status(), "Accepted"))  # the gateway has read the record
        asked = asked_about(auth, "card-l1") + asked_about(auth, "CARD-L1")
        assert (await cp.call("Authorize", {"idTag": "CARD-L1"}))[2]["idTagInfo"] == {
            "status": "Accepted",
            "parentIdTag": "G-1",
        }
        assert asked_about(auth, "card-l1") + asked_about(auth, "CARD-L1") == asked == 0

        await publish(auth, "CARD-L1", "Blocked")  # an operator blocked the card
        blocked_at = time.monotonic()
        while await status() != "Blocked":
            assert time.monotonic() - blocked_at < 1.0, "the block did not apply within a second"

        # Not covered by a record: asked of auth as before (StartTransaction always is: it counts sessions).
        auth.tokens["CARD-NEW"] = "Accepted"
        assert await status("CARD-NEW") == "Accepted" and asked_about(auth, "CARD-NEW") == 1
        start = {"connectorId": 1, "idTag": "CARD-L1", "meterStart": 0, "timestamp": "2024-05-01T08:00:00Z"}
        assert (await cp.call("StartTransaction", start))[2]["idTagInfo"]["status"] == "Invalid"
        assert asked_about(auth, "CARD-L1") == 1

    await log.wait("CP-L1", "station.disconnected")
    answered = [decode_payload(e) for e in log.of("CP-L1", "station.authorize_answered")]
    assert all(isinstance(a, AuthorizeAnswered) for a in answered)
    local = [a for a in answered if isinstance(a, AuthorizeAnswered) and a.local]
    assert local and all(a.id_token is not None and a.id_token.id_token.upper() == "CARD-L1" for a in local)
    assert len(log.of("CP-L1", "station.authorize")) == len(answered)  # every call is still published first


async def test_expired_snapshots_and_withdrawn_records_are_asked_of_auth(system: Any) -> None:
    gateway, auth, _ = system
    await auth.register("CP-L2")
    auth.tokens["CARD-L2"] = "Expired"
    auth.tokens["CARD-L3"] = "Unknown"
    await publish(auth, "CARD-L2", "Accepted", valid_until=datetime.now(UTC) - timedelta(seconds=1))
    await publish(auth, "CARD-L3", "Accepted")
    await publish(auth, "CARD-L3", None)  # deleted: the gateway forgets it
    await eventually(lambda: gateway.internals.registry.get("CP-L2") is not None)
    async with charger(gateway.ocpp_url, "CP-L2", "ocpp2.0.1") as cp:
        boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}
        assert (await cp.call("BootNotification", boot))[2]["status"] == "Accepted"
        expired = await cp.call("Authorize", {"idToken": {"idToken": "CARD-L2", "type": "ISO14443"}})
        assert expired[2]["idTokenInfo"]["status"] == "Expired" and asked_about(auth, "CARD-L2") == 1
        await eventually(lambda: _is(_status(cp, "CARD-L3"), "Unknown"))
        assert asked_about(auth, "CARD-L3") >= 1


async def _status(cp: Any, value: str) -> str:
    answer = await cp.call("Authorize", {"idToken": {"idToken": value, "type": "ISO14443"}})
    return str(answer[2]["idTokenInfo"]["status"])


async def _is(status: Any, expected: str) -> bool:
    return bool(await status == expected)


async def test_a_start_names_the_driver_of_the_published_record(system: Any) -> None:
    """ADR 0024: the driver comes from the published record while auth (here without a driver) decides."""
    gateway, auth, log = system
    await auth.register("CP-L4")
    auth.tokens["CARD-D1"] = "Blocked"  # until the gateway answers from the record
    record = TokenDecisions(
        id_token="CARD-D1",
        decisions={"ocpp1.6": AuthorizationDecision(status="Accepted", driver_id="drv-L")},
        decided_at=datetime.now(UTC),
    )
    await auth.producer.publish(auth.topics.auth_decisions, envelope_for(record, source="auth/fake"), key=b"CARD-D1")
    await eventually(lambda: gateway.internals.registry.get("CP-L4") is not None)
    async with charger(gateway.ocpp_url, "CP-L4") as cp:
        assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"

        async def status() -> str:
            return str((await cp.call("Authorize", {"idTag": "CARD-D1"}))[2]["idTagInfo"]["status"])

        await eventually(lambda: _is(status(), "Accepted"))  # the gateway has read the record
        auth.tokens["CARD-D1"] = "Accepted"  # auth decides the start, and names no driver
        start = {"connectorId": 1, "idTag": "CARD-D1", "meterStart": 0, "timestamp": "2024-05-01T08:00:00Z"}
        assert (await cp.call("StartTransaction", start))[2]["idTagInfo"]["status"] == "Accepted"
    (started,) = await log.wait("CP-L4", "station.transaction")
    event = decode_payload(started)
    assert isinstance(event, StationTransaction) and event.driver_id == "drv-L"


async def test_a_local_answer_does_not_wait_for_the_broker_and_its_events_follow(system: Any, monkeypatch: Any) -> None:
    """ADR 0015 addendum: the station's events are held in the gateway's writer (its batches for the station
    events topic do not reach the producer), the locally decided Authorize is answered anyway, and once the
    writer moves again both events reach the topic in order."""
    gateway, auth, log = system
    await auth.register("CP-L5")
    auth.tokens["CARD-F1"] = "Invalid"  # what auth would say if asked
    await publish(auth, "CARD-F1", "Accepted")
    await eventually(lambda: gateway.internals.registry.get("CP-L5") is not None)
    async with charger(gateway.ocpp_url, "CP-L5") as cp:
        assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"

        async def status() -> str:
            return str((await cp.call("Authorize", {"idTag": "CARD-F1"}))[2]["idTagInfo"]["status"])

        await eventually(lambda: _is(status(), "Accepted"))  # the gateway has read the record
        await log.wait("CP-L5", "station.authorize_answered")
        held, release = asyncio.Event(), asyncio.Event()
        send_batch = AIOKafkaProducer.send_batch

        async def gated(producer: AIOKafkaProducer, builder: Any, topic: str, *, partition: int) -> Any:
            if topic == auth.topics.station_events:
                held.set()
                await release.wait()
            return await send_batch(producer, builder, topic, partition=partition)

        monkeypatch.setattr(AIOKafkaProducer, "send_batch", gated)
        stored = len(log.of("CP-L5", "station.authorize"))
        try:
            answer = await cp.call("Authorize", {"idTag": "CARD-F1"}, timeout=5.0)
            assert answer[0] == 3 and answer[2]["idTagInfo"]["status"] == "Accepted"
            # The event was in the writer, not acknowledged, when the answer came: it reaches the producer when the
            # writer's window closes (VOLTLINE_EVENT_LINGER_MS), and is held there.
            await asyncio.wait_for(held.wait(), 5)
            assert len(log.of("CP-L5", "station.authorize")) == stored
        finally:
            release.set()
            monkeypatch.undo()
        assert asked_about(auth, "CARD-F1") == 0
    events = await log.wait("CP-L5", "station.authorize", stored + 1)
    last = events[-1]
    answered = [e for e in log.of("CP-L5", "station.authorize_answered") if e.message_id == last.message_id]
    assert answered, "the answer's event follows"
    in_order = [e.type for e in log.of("CP-L5") if e.message_id == last.message_id]
    assert in_order == ["station.authorize", "station.authorize_answered"]
