"""The gateway on real Kafka: events keyed and ordered per station, decisions by request/reply, fallbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import EventLog, FakeAuth, RunningGateway, charger, eventually, running_gateway
from voltline_events import decode_payload
from voltline_events.payloads import StationTransaction

pytestmark = pytest.mark.asyncio(loop_scope="module")

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(kafka: Any) -> AsyncIterator[tuple[RunningGateway, FakeAuth, EventLog]]:
    prefix = "gwk-" + __import__("uuid").uuid4().hex[:6] + "."
    async with running_gateway(kafka, prefix) as gateway:
        auth, log = FakeAuth(kafka, prefix), EventLog(kafka, prefix)
        await auth.start()
        await log.start()
        try:
            yield gateway, auth, log
        finally:
            await log.stop()
            await auth.stop()


async def test_a_session_reaches_kafka_in_order_with_decisions(system: Any) -> None:
    gateway, auth, log = system
    await auth.register("CP-K1")
    auth.tokens["CARD-OK"] = "Accepted"
    await eventually(lambda: gateway.internals.registry.get("CP-K1") is not None)
    async with charger(gateway.ocpp_url, "CP-K1") as cp:
        assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
        assert (await cp.call("StatusNotification", status))[2] == {}
        assert (await cp.call("Authorize", {"idTag": "CARD-OK"}))[2]["idTagInfo"]["status"] == "Accepted"
        start = {"connectorId": 1, "idTag": "CARD-OK", "meterStart": 1000, "timestamp": "2024-05-01T08:00:00Z"}
        started = await cp.call("StartTransaction", start)
        tx = started[2]["transactionId"]
        assert started[2]["idTagInfo"]["status"] == "Accepted"
        for i in range(5):
            reading = {"timestamp": f"2024-05-01T08:0{i + 1}:00Z", "sampledValue": [{"value": str(1000 + 100 * i)}]}
            await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [reading]})
        stop = {"transactionId": tx, "meterStop": 1500, "timestamp": "2024-05-01T08:10:00Z"}
        assert (await cp.call("StopTransaction", stop))[2] == {}
    await log.wait("CP-K1", "station.disconnected")
    types = [e.type for e in log.of("CP-K1")]
    assert types == [
        "station.connected",
        "station.boot_notification",
        "station.boot_answered",  # what the station was answered follows its call
        "station.connector_status",
        "station.authorize",
        "station.authorize_answered",
        *["station.transaction"] * 7,
        "station.disconnected",
    ]
    transactions = [decode_payload(e) for e in log.of("CP-K1", "station.transaction")]
    assert all(isinstance(t, StationTransaction) and t.transaction_id == str(tx) for t in transactions)
    assert [t.kind for t in transactions] == ["started", *["updated"] * 5, "ended"]  # type: ignore[attr-defined]
    assert all(e.source == "gateway/gw-test" for e in log.of("CP-K1"))


async def test_decisions_fall_back_when_auth_does_not_answer(system: Any) -> None:
    gateway, auth, log = system
    await auth.register("CP-K2")
    auth.silent.add("CP-K2")
    await eventually(lambda: gateway.internals.registry.get("CP-K2") is not None)
    async with charger(gateway.ocpp_url, "CP-K2", "ocpp2.0.1") as cp:
        boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}
        answers = await asyncio.gather(
            cp.call("BootNotification", boot),
        )
        assert (answers[0][2]["status"], answers[0][2]["interval"]) == ("Pending", 60)
        # told Pending, the station may only boot again (B02.FR.09) ...
        assert (await cp.call("Authorize", {"idToken": {"idToken": "X", "type": "ISO14443"}}))[2] == "SecurityError"
    async with charger(gateway.ocpp_url, "CP-K2", "ocpp2.0.1") as cp:  # ... a connection without a boot may ask
        token = {"idToken": "X", "type": "ISO14443"}
        assert (await cp.call("Authorize", {"idToken": token}))[2]["idTokenInfo"]["status"] == "Invalid"
    assert [e.type for e in log.of("CP-K2")][:6] == [
        "station.connected",
        "station.boot_notification",
        "station.boot_answered",  # Pending, fallback: true
        "station.disconnected",
        "station.connected",
        "station.authorize",
    ]


async def test_many_stations_at_once_keep_their_own_order(system: Any) -> None:
    gateway, auth, log = system
    ids = [f"CP-M{i}" for i in range(20)]
    for sid in ids:
        await auth.register(sid)
    await eventually(lambda: all(gateway.internals.registry.get(s) for s in ids))

    async def run(sid: str) -> None:
        async with charger(gateway.ocpp_url, sid) as cp:
            for i in range(10):
                status = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": str(i)}
                assert (await cp.call("StatusNotification", status))[2] == {}

    await asyncio.gather(*(run(s) for s in ids))
    for sid in ids:
        statuses = await log.wait(sid, "station.connector_status", 10)
        assert [e.payload["info"] for e in statuses] == [str(i) for i in range(10)]
        assert {e.station_id for e in statuses} == {sid}
