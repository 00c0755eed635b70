"""The gateway's answer to each kind of frame, whatever it holds (bus and connection replaced by fakes).

Per-action behaviour is in tests/actions/; here: framing, routing, validation, CallError paths, rate limits.
"""

from __future__ import annotations

from typing import Any

import pytest
from voltline_gateway.actions import ROUTES
from voltline_gateway.actions.outbound import COMMANDS
from voltline_gateway.adapters.validation import schema_actions
from voltline_gateway.domain.ocpp_j import OCPP16, OCPP21, OCPP201, CallErrorFrame, CallResult, OcppError

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22", "chargePointSerialNumber": "SN-9"}
BOOT_2X = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}


@pytest.mark.parametrize("version", [OCPP16, OCPP201, OCPP21])
def test_routing_table_and_commands_cover_every_action_of_the_version(version: str) -> None:
    inbound, outbound = set(ROUTES[version]), set(COMMANDS[version])
    assert inbound | outbound == schema_actions(version)
    assert inbound & outbound == {"DataTransfer"}


@pytest.mark.parametrize(
    ("version", "frame", "code"),
    [
        ("ocpp1.6", [2, "m", "BootNotification", {"chargePointVendor": "ACME"}], "OccurenceConstraintViolation"),
        ("ocpp2.1", [2, "m", "BootNotification", {"reason": "PowerUp"}], "OccurrenceConstraintViolation"),
        ("ocpp1.6", [2, "m", "BootNotification", {**BOOT_16, "chargePointVendor": 7}], "TypeConstraintViolation"),
        ("ocpp1.6", [2, "m", "BootNotification", {**BOOT_16, "extra": 1}], "FormationViolation"),
        ("ocpp2.0.1", [2, "m", "BootNotification", {**BOOT_2X, "reason": "Bored"}], "PropertyConstraintViolation"),
        ("ocpp1.6", [2, "m", "Heartbeat", {"x": 1}], "FormationViolation"),
        ("ocpp1.6", [2, "m", "MakeCoffee", {}], "NotImplemented"),
        ("ocpp2.0.1", [2, "m", "StartTransaction", {}], "NotImplemented"),
        ("ocpp1.6", [2, "m", "RemoteStartTransaction", {"idTag": "x"}], "NotSupported"),
        ("ocpp2.0.1", [2, "m", "RequestStartTransaction", {}], "NotSupported"),
        ("ocpp2.0.1", [5, "m", "x", "y", {}], "MessageTypeNotSupported"),
        ("ocpp1.6", [6, "m", "NotifyPeriodicEventStream", {}], "ProtocolError"),
        ("ocpp1.6", [9, "m", {}], "ProtocolError"),
    ],
)
async def test_invalid_calls_get_the_right_call_error(
    answer: Any, bus: Any, version: str, frame: Any, code: str
) -> None:
    reply = await answer(frame, version)
    assert reply[0] == 4 and reply[1] == "m" and reply[2] == code
    assert bus.published == []


async def test_a_schema_violation_names_the_field(answer: Any) -> None:
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Bogus"}
    reply = await answer([2, "m", "StatusNotification", status])
    assert reply[2] == "PropertyConstraintViolation"
    assert reply[4] == {"field": "status"} and "status" in reply[3]
    missing = await answer([2, "m", "StatusNotification", {"connectorId": 1, "status": "Available"}])
    assert missing[4] == {"field": "errorCode"}


async def test_kafka_failure_is_an_internal_error_not_a_crash(answer: Any, bus: Any) -> None:
    bus.fail = True
    reply = await answer([2, "h", "Heartbeat", {}])
    assert reply[:3] == [4, "h", "InternalError"]


@pytest.mark.parametrize(
    ("text", "message_id"),
    [("{nope", "-1"), ('{"a": 1}', "-1"), ("[2]", "-1"), ('[2,"7","Heartbeat"]', "7"), ('[2,7,"Heartbeat",{}]', "-1")],
)
async def test_malformed_frames_get_a_format_violation(answer: Any, text: str, message_id: str) -> None:
    reply = await answer(text)
    assert reply[:3] == [4, message_id, "FormationViolation"]
    assert (await answer(text, "ocpp2.0.1"))[2] == "FormatViolation"


async def test_answers_to_our_calls_are_handed_to_the_connection(answer: Any, link_factory: Any) -> None:
    link = link_factory()
    assert await answer('[3,"x",{"status":"Accepted"}]', link=link) is None
    assert await answer('[4,"y","GenericError","",{}]', link=link) is None
    assert link.resolved == [CallResult("x", {"status": "Accepted"}), CallErrorFrame("y", "GenericError", "", {})]


async def test_rate_limited_calls_get_an_error_and_are_not_published(answer: Any, bus: Any, link_factory: Any) -> None:
    link = link_factory(allowed=False)
    reply = await answer([2, "h", "Heartbeat", {}], link=link)
    assert reply[:3] == [4, "h", "GenericError"] and "rate limit" in reply[3]
    assert await answer("garbage", link=link) is None  # a flood of garbage is not even answered
    assert await answer('[3,"x",{}]', link=link) is None and link.resolved  # answers we asked for still count
    assert bus.published == []


async def test_refused_actions_get_the_connections_reason(answer: Any, bus: Any, link_factory: Any) -> None:
    link = link_factory(refuse=OcppError("SecurityError", "station is not registered"))
    reply = await answer([2, "h", "Heartbeat", {}], link=link)
    assert reply[:4] == [4, "h", "SecurityError", "station is not registered"]
    assert bus.published == []


async def test_send_frames_of_2_1_are_published_and_never_answered(answer: Any, bus: Any) -> None:
    stream = {"id": 1, "pending": 0, "basetime": "2024-05-01T12:00:00Z", "data": [{"t": 0.5, "v": "7"}]}
    assert await answer([6, "s", "NotifyPeriodicEventStream", stream], "ocpp2.1") is None
    assert bus.events[0].action == "NotifyPeriodicEventStream"  # type: ignore[attr-defined]
    assert await answer([6, "s", "NotifyPeriodicEventStream", {"id": "x"}], "ocpp2.1") is None  # invalid: dropped
    assert len(bus.published) == 1
