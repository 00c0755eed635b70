from __future__ import annotations

import asyncio
from typing import Any

import pytest
from voltline_events.payloads import BootAnswered, BootDecision, BootDecisionRequested, BootNotification

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22", "chargePointSerialNumber": "SN-9"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22", "serialNumber": "SN-9"}}


@pytest.mark.parametrize(("version", "payload"), [("ocpp1.6", BOOT_16), ("ocpp2.0.1", BOOT_2X), ("ocpp2.1", BOOT_2X)])
async def test_boot_is_published_then_decided_by_auth(
    answer: Any, bus: Any, link_factory: Any, version: str, payload: dict[str, Any]
) -> None:
    bus.decision = BootDecision(status="Accepted", interval=300)
    link = link_factory(ocpp_version=version)
    reply = await answer([2, "m1", "BootNotification", payload], version, link=link)
    assert reply[:2] == [3, "m1"]
    assert (reply[2]["status"], reply[2]["interval"]) == ("Accepted", 300)
    assert reply[2]["currentTime"].endswith("Z")
    event, station_id, message_id = bus.published[0]
    assert isinstance(event, BootNotification)
    assert (event.vendor, event.model, event.serial_number, station_id, message_id) == (
        "ACME",
        "Volt-22",
        "SN-9",
        "CP-1",
        "m1",
    )
    assert event.raw == payload
    assert bus.asked == [
        BootDecisionRequested(ocpp_version=version, vendor="ACME", model="Volt-22", serial_number="SN-9")
    ]
    assert link.boots == [("ACME", "Volt-22", "Accepted")]  # the model picks the leniency rules


async def test_boot_falls_back_to_the_configured_answer_when_auth_is_late(answer: Any, bus: Any) -> None:
    reply = await answer([2, "m1", "BootNotification", BOOT_16])
    assert (reply[2]["status"], reply[2]["interval"]) == ("Pending", 42)
    assert isinstance(bus.events[0], BootNotification)


async def test_the_answer_follows_the_boot_as_station_boot_answered(answer: Any, bus: Any) -> None:
    bus.decision = BootDecision(status="Accepted", interval=300)
    await answer([2, "m1", "BootNotification", BOOT_16])
    bus.decision = None  # the auth service is late: the policy's answer, marked as such
    await answer([2, "m2", "BootNotification", BOOT_16])
    await asyncio.sleep(0)  # the answer is published without making the station wait for the broker
    answers = [(e, m) for e, _, m in bus.published if isinstance(e, BootAnswered)]
    assert [(e.status, e.interval, e.fallback, m) for e, m in answers] == [
        ("Accepted", 300, False, "m1"),
        ("Pending", 42, True, "m2"),
    ]
