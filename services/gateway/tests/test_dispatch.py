"""The gateway's answer to each kind of frame, with the bus replaced by an in-memory recorder.

Kafka itself is exercised by the end-to-end tests; here we pin down the OCPP behaviour.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from voltline_events import Event
from voltline_events.payloads import BootDecision, BootNotification, Heartbeat, StationMessage
from voltline_gateway.actions import ROUTES
from voltline_gateway.actions.context import BootFallback
from voltline_gateway.service_layer.dispatch import Dispatcher

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22", "chargePointSerialNumber": "SN-9"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}


class RecordingBus:
    def __init__(self, decision: BootDecision | None = None, fail: bool = False) -> None:
        self.published: list[tuple[Event, str, str | None]] = []
        self.asked: list[Event] = []
        self.decision = decision
        self.fail = fail

    async def publish(self, event: Event, *, station_id: str, message_id: str | None = None) -> None:
        if self.fail:
            raise ConnectionError("kafka unreachable")
        self.published.append((event, station_id, message_id))

    async def ask_auth(self, request: Event, *, station_id: str, message_id: str | None = None) -> Event | None:
        self.asked.append(request)
        return self.decision


async def answer(bus: RecordingBus, frame: Any, version: str = "ocpp1.6") -> list[Any]:
    dispatcher = Dispatcher(ROUTES, bus, BootFallback("Pending", 42))
    text = frame if isinstance(frame, str) else json.dumps(frame)
    reply = await dispatcher.answer("CP-1", version, text)
    assert reply is not None
    return json.loads(reply)


@pytest.mark.parametrize(("version", "payload"), [("ocpp1.6", BOOT_16), ("ocpp2.0.1", BOOT_2X), ("ocpp2.1", BOOT_2X)])
async def test_boot_is_published_then_decided_by_auth(version: str, payload: dict[str, Any]) -> None:
    bus = RecordingBus(BootDecision(status="Accepted", interval=300))
    reply = await answer(bus, [2, "m1", "BootNotification", payload], version)
    assert reply[:2] == [3, "m1"]
    assert (reply[2]["status"], reply[2]["interval"]) == ("Accepted", 300)
    event, station_id, message_id = bus.published[0]
    assert isinstance(event, BootNotification)
    assert (event.vendor, event.model, station_id, message_id) == ("ACME", "Volt-22", "CP-1", "m1")
    assert event.raw == payload


async def test_boot_falls_back_when_auth_does_not_answer() -> None:
    reply = await answer(RecordingBus(decision=None), [2, "m1", "BootNotification", BOOT_16])
    assert (reply[2]["status"], reply[2]["interval"]) == ("Pending", 42)


async def test_heartbeat_and_notifications_are_published_and_confirmed() -> None:
    bus = RecordingBus()
    beat = await answer(bus, [2, "h", "Heartbeat", {}])
    assert beat[0] == 3 and beat[2]["currentTime"].endswith("Z")
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    confirmed = await answer(bus, [2, "s", "StatusNotification", status])
    assert confirmed == [3, "s", {}]
    assert isinstance(bus.published[0][0], Heartbeat)
    assert bus.published[1][0] == StationMessage(ocpp_version="ocpp1.6", action="StatusNotification", payload=status)


@pytest.mark.parametrize(
    ("version", "frame", "code"),
    [
        ("ocpp1.6", [2, "m", "BootNotification", {"chargePointVendor": "ACME"}], "OccurenceConstraintViolation"),
        ("ocpp2.1", [2, "m", "BootNotification", {"reason": "PowerUp"}], "OccurrenceConstraintViolation"),
        ("ocpp1.6", [2, "m", "BootNotification", {**BOOT_16, "chargePointVendor": 7}], "TypeConstraintViolation"),
        ("ocpp1.6", [2, "m", "BootNotification", {**BOOT_16, "extra": 1}], "FormationViolation"),
        ("ocpp2.0.1", [2, "m", "BootNotification", {**BOOT_2X, "reason": "Bored"}], "PropertyConstraintViolation"),
        ("ocpp1.6", [2, "m", "MakeCoffee", {}], "NotImplemented"),
        ("ocpp2.0.1", [2, "m", "StartTransaction", {}], "NotImplemented"),
    ],
)
async def test_invalid_calls_get_the_right_call_error(version: str, frame: list[Any], code: str) -> None:
    bus = RecordingBus()
    reply = await answer(bus, frame, version)
    assert reply[0] == 4 and reply[1] == "m" and reply[2] == code
    assert bus.published == []


async def test_kafka_failure_is_an_internal_error_not_a_crash() -> None:
    reply = await answer(RecordingBus(fail=True), [2, "h", "Heartbeat", {}])
    assert reply[:3] == [4, "h", "InternalError"]


async def test_malformed_frames_answer_with_unknown_id() -> None:
    reply = await answer(RecordingBus(), "{nope")
    assert reply[:3] == [4, "-1", "FormationViolation"]


async def test_results_and_errors_from_the_station_need_no_answer() -> None:
    dispatcher = Dispatcher(ROUTES, RecordingBus(), BootFallback())
    assert await dispatcher.answer("CP-1", "ocpp1.6", '[3,"x",{}]') is None
    assert await dispatcher.answer("CP-1", "ocpp1.6", '[4,"x","GenericError","",{}]') is None
