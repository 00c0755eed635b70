"""Bad input on the wire: floods, oversized frames, dead peers, unregistered stations, off-spec chargers and a
Kafka outage each get the right answer or close, and never affect the other stations."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import EventLog, FakeAuth, RunningGateway, charger, eventually, running_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def kafka(private_kafka: Any) -> Any:
    """This module pauses the broker: one no other xdist worker shares (voltline_devinfra.pytest_plugin)."""
    return private_kafka


BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(kafka: Any) -> AsyncIterator[tuple[RunningGateway, FakeAuth, EventLog]]:
    prefix = f"gwb-{uuid.uuid4().hex[:6]}."
    async with running_gateway(
        kafka,
        prefix,
        # A slow refill: the flood test counts the burst's 10 beats plus what refills while the gateway works
        # through them, which at 5/s reached 20 once under load (its frames wait for the broker in turn).
        frames_per_second=0.2,
        frame_burst=10,
        flood_close_after=20,
        max_frame_bytes=2048,
        # Not 0.5 s: a flooding station's pong waits behind its backlog (the gateway stops reading while it works
        # through it), so at 0.5 s a slow gateway closed the flood test's station for a ping timeout (1011).
        ping_interval_s=5,
        ping_timeout_s=5,
        close_timeout_s=1,
        publish_timeout_s=2,
        quirks={"Quirky/*": ["enum_case", "naive_timestamps", "unknown_fields"]},
    ) as gateway:
        auth, log = FakeAuth(kafka, prefix), EventLog(kafka, prefix)
        await auth.start()
        await log.start()
        for sid in ("CP-FLOOD", "CP-CALM", "CP-BIG", "CP-DEAD", "CP-QUIRKY", "CP-STRICT", "CP-OUTAGE"):
            await auth.register(sid)
        await eventually(lambda: gateway.internals.registry.get("CP-OUTAGE") is not None)
        try:
            yield gateway, auth, log
        finally:
            await log.stop()
            await auth.stop()


async def test_a_flood_is_refused_then_closed_while_others_are_served(system: Any) -> None:
    gateway, _, log = system
    async with charger(gateway.ocpp_url, "CP-FLOOD") as flood, charger(gateway.ocpp_url, "CP-CALM") as calm:
        for i in range(60):
            await flood.socket.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
        await flood.socket.wait_closed()
        assert (flood.socket.close_code, flood.socket.close_reason) == (1008, "rate limit exceeded")
        assert (await calm.call("Heartbeat", {}))[0] == 3
    [gone] = await log.wait("CP-FLOOD", "station.disconnected")
    assert gone.payload["cause"] == "rate_limited"
    beats = log.of("CP-FLOOD", "station.heartbeat")
    assert 10 <= len(beats) < 20  # the burst passed, the rest was refused and never published


async def test_an_oversized_frame_closes_with_1009(system: Any) -> None:
    gateway, _, log = system
    async with charger(gateway.ocpp_url, "CP-BIG") as cp:
        await cp.socket.send(json.dumps([2, "b", "DataTransfer", {"vendorId": "x", "data": "y" * 4000}]))
        await cp.socket.wait_closed()
        assert cp.socket.close_code == 1009
    [gone] = await log.wait("CP-BIG", "station.disconnected")
    assert gone.payload["cause"] == "frame_too_big"


async def test_a_station_that_stops_answering_pings_is_detected_offline(system: Any) -> None:
    gateway, _, log = system
    async with charger(gateway.ocpp_url, "CP-DEAD", ping_interval=None) as cp:
        await cp.call("Heartbeat", {})
        cp.socket.transport.pause_reading()  # the peer is gone: no pong will come
        [gone] = await log.wait("CP-DEAD", "station.disconnected", within=20)
        assert gone.payload["cause"] == "ping_timeout"
        cp.socket.transport.abort()


async def test_wire_level_garbage_gets_call_errors_and_the_connection_survives(system: Any) -> None:
    gateway, _, _ = system
    async with charger(gateway.ocpp_url, "CP-CALM", "ocpp2.0.1") as cp:
        assert (await cp.send_raw("not json"))[2] == "FormatViolation"
        assert (await cp.send_raw('[2,"x1","MakeCoffee",{}]', expect="x1"))[2] == "NotImplemented"
        assert (await cp.send_raw('[7,"x2",{}]', expect="x2"))[2] == "MessageTypeNotSupported"
        assert (await cp.send_raw(b'[2,"x3","Heartbeat",{}]', expect="x3"))[0] == 3  # a binary frame is read too
        assert (await cp.call("Heartbeat", {}))[0] == 3


async def test_an_unregistered_station_may_only_boot(system: Any) -> None:
    gateway, _, log = system
    async with charger(gateway.ocpp_url, "CP-STRANGER") as cp:
        assert (await cp.call("BootNotification", BOOT))[2]["status"] == "Rejected"
        refused = await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        assert refused[2] == "SecurityError"
    # Its events are read from the topic at their own pace: the disconnection, published last, says all are in.
    await log.wait("CP-STRANGER", "station.disconnected")
    assert [e.type for e in log.of("CP-STRANGER")][:2] == ["station.connected", "station.boot_notification"]
    assert not log.of("CP-STRANGER", "station.connector_status")


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_a_station_told_pending_or_rejected_may_only_boot_again(system: Any, version: str) -> None:
    gateway, auth, log = system
    v16 = version == "ocpp1.6"
    boot = BOOT if v16 else {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}
    status = (
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        if v16
        else {"timestamp": "2026-12-05T06:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    )
    for told in ("Pending", "Rejected"):
        station_id = f"CP-{told[:3].upper()}-{version[4:].replace('.', '')}"
        await auth.register(station_id, status=told)
        await eventually(lambda sid=station_id: gateway.internals.registry.get(sid) is not None)
        async with charger(gateway.ocpp_url, station_id, version) as cp:
            assert (await cp.call("BootNotification", boot))[2]["status"] == told
            for action, payload in (("StatusNotification", status), ("Heartbeat", {})):
                refused = await cp.call(action, payload)
                assert (refused[0], refused[2]) == (4, "SecurityError") and told in refused[3], refused
            auth.boots[station_id] = "Accepted"  # the operator accepts the station: its next boot is Accepted
            assert (await cp.call("BootNotification", boot))[2]["status"] == "Accepted"
            assert (await cp.call("StatusNotification", status))[0] == 3
        await log.wait(station_id, "station.connector_status")
        assert len(log.of(station_id, "station.connector_status")) == 1  # only the one sent once Accepted
        assert not log.of(station_id, "station.heartbeat")


async def test_a_station_registered_while_connected_must_show_its_credentials(system: Any) -> None:
    gateway, auth, _ = system
    async with charger(gateway.ocpp_url, "CP-LATECOMER") as cp:
        assert (await cp.call("Heartbeat", {}))[0] == 3  # unregistered: heartbeats are fine
        await auth.register("CP-LATECOMER", profile=1, password="sixteen-chars-or-more")
        await eventually(lambda: gateway.internals.registry.get("CP-LATECOMER") is not None)
        refused = await cp.call("Heartbeat", {})
        assert refused[2] == "SecurityError" and "credentials" in refused[3]
        await cp.socket.wait_closed()
        assert (cp.socket.close_code, cp.socket.close_reason) == (1008, "re-authentication required")
    async with charger(gateway.ocpp_url, "CP-LATECOMER", password="sixteen-chars-or-more") as cp:
        assert (await cp.call("Heartbeat", {}))[0] == 3


async def test_leniency_accepts_known_quirks_of_the_configured_models_only(system: Any) -> None:
    gateway, _, log = system
    sloppy = {
        "connectorId": 1,
        "errorCode": "noError",
        "status": "available",
        "timestamp": "2024-05-01T08:00:00",
        "vendorBlob": {"x": 1},
    }
    async with charger(gateway.ocpp_url, "CP-QUIRKY") as cp:
        await cp.call("BootNotification", {"chargePointVendor": "Quirky", "chargePointModel": "Q-1"})
        assert (await cp.call("StatusNotification", dict(sloppy)))[2] == {}
    async with charger(gateway.ocpp_url, "CP-QUIRKY") as cp:  # remembered across reconnects, without a boot
        assert (await cp.call("StatusNotification", dict(sloppy)))[2] == {}
    async with charger(gateway.ocpp_url, "CP-STRICT") as cp:
        await cp.call("BootNotification", BOOT)
        assert (await cp.call("StatusNotification", dict(sloppy)))[0] == 4  # a CallError: no leniency for ACME
    statuses = await log.wait("CP-QUIRKY", "station.connector_status", 2)
    assert statuses[0].payload["status"] == "Available" and statuses[0].payload["error_code"] == "NoError"


async def test_a_kafka_outage_answers_internal_error_not_silence(system: Any, kafka: Any) -> None:
    gateway, _, _ = system
    async with charger(gateway.ocpp_url, "CP-OUTAGE") as cp:
        assert (await cp.call("Heartbeat", {}))[0] == 3
        await asyncio.to_thread(kafka.pause)
        try:
            failed = await cp.call("Heartbeat", {}, timeout=30)
            assert failed[:3] == [4, failed[1], "InternalError"]
        finally:
            await asyncio.to_thread(kafka.resume)
        await eventually(lambda: _beats(cp), within=60)


async def _beats(cp: Any) -> bool:
    try:
        return (await cp.call("Heartbeat", {}, timeout=5))[0] == 3
    except TimeoutError:
        return False
