"""The first flow end to end: a station boots through the gateway, Kafka and the auth service.

Every service runs as its own process over real Kafka and PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from e2e_support import RunningSystem
from ocpp_client import Station, station
from websockets.exceptions import InvalidStatus

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}


def register(system: RunningSystem, station_id: str, **body: object) -> httpx.Response:
    return httpx.post(
        f"{system.url('auth')}/api/v1/stations", json={"station_id": station_id, **body}, headers=system.headers
    )


async def test_registered_station_boots_accepted_and_heartbeats(system: RunningSystem) -> None:
    assert register(system, "CP-ACCEPT", password="a-very-long-password").status_code == 201
    async with station(system.ocpp_url, "CP-ACCEPT", password="a-very-long-password") as ws:
        cp = Station(ws)
        boot = await cp.call("BootNotification", BOOT_16)
        assert boot[0] == 3
        assert boot[2]["status"] == "Accepted"
        assert boot[2]["interval"] == 300
        beat = await cp.call("Heartbeat", {})
        now = datetime.fromisoformat(beat[2]["currentTime"].replace("Z", "+00:00"))
        assert abs((datetime.now(UTC) - now).total_seconds()) < 5


async def test_unknown_station_is_rejected(system: RunningSystem) -> None:
    async with station(system.ocpp_url, "CP-STRANGER") as ws:
        boot = await Station(ws).call("BootNotification", BOOT_16)
        assert boot[2]["status"] == "Rejected"


async def test_ocpp_201_boot_uses_the_same_registry(system: RunningSystem) -> None:
    assert register(system, "CP-201").status_code == 201
    async with station(system.ocpp_url, "CP-201", "ocpp2.0.1") as ws:
        boot = await Station(ws).call("BootNotification", BOOT_201)
        assert boot[2]["status"] == "Accepted"


async def test_wrong_frames_get_call_errors_and_the_connection_survives(system: RunningSystem) -> None:
    async with station(system.ocpp_url, "CP-MESSY") as ws:
        cp = Station(ws)
        not_json = await cp.send_raw("this is not json")
        assert not_json[0] == 4 and not_json[2] == "FormationViolation"
        missing_field = await cp.call("BootNotification", {"chargePointVendor": "ACME"})
        assert missing_field[0] == 4 and missing_field[2] == "OccurenceConstraintViolation"
        unknown = await cp.call("MakeCoffee", {})
        assert unknown[0] == 4 and unknown[2] == "NotImplemented"
        beat = await cp.call("Heartbeat", {})
        assert beat[0] == 3 and "currentTime" in beat[2]


async def test_upgrade_refuses_bad_station_ids_and_missing_subprotocols(system: RunningSystem) -> None:
    with pytest.raises(InvalidStatus) as bad_id:
        async with station(system.ocpp_url, "not%20valid"):
            pass
    assert bad_id.value.response.status_code == 404
    from websockets.asyncio.client import connect

    with pytest.raises(InvalidStatus) as no_protocol:
        async with connect(f"{system.ocpp_url}/CP-1"):
            pass
    assert no_protocol.value.response.status_code == 400


async def test_boot_is_published_on_the_station_events_topic(system: RunningSystem) -> None:
    assert register(system, "CP-EVENTS").status_code == 201
    async with station(system.ocpp_url, "CP-EVENTS") as ws:
        await Station(ws).call("BootNotification", {**BOOT_16, "chargePointSerialNumber": "SN-1"})
    consumer = AIOKafkaConsumer(
        f"{system.topic_prefix}voltline.station.events.v1",
        bootstrap_servers=system.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found = None
        async with asyncio.timeout(20):
            while found is None:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        envelope = json.loads(record.value)
                        if envelope["type"] == "station.boot_notification" and envelope["station_id"] == "CP-EVENTS":
                            found = (record.key, envelope)
        key, envelope = found
        assert key == b"CP-EVENTS"
        assert envelope["payload"]["serial_number"] == "SN-1"
        assert envelope["source"].startswith("gateway/")
    finally:
        await consumer.stop()


def test_operator_api_needs_a_token(system: RunningSystem) -> None:
    url = f"{system.url('auth')}/api/v1/stations/CP-ACCEPT"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = httpx.post(
        f"{system.url('auth')}/api/v1/stations", json={"station_id": "bad id!"}, headers=system.headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "station_id" in response.text


def test_every_service_is_healthy_and_ready(system: RunningSystem) -> None:
    for name in ("gateway", "auth", "session", "billing", "diagnostics", "analytics"):
        assert httpx.get(f"{system.url(name)}/healthz").status_code == 200
        ready = httpx.get(f"{system.url(name)}/readyz")
        assert ready.status_code == 200, (name, ready.text)
        assert httpx.get(f"{system.url(name)}/metrics").status_code == 200
