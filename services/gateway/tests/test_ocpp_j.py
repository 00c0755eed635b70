from __future__ import annotations

import json

import pytest
from voltline_gateway.domain.ocpp_j import (
    OCPP16,
    OCPP21,
    OCPP201,
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    OcppError,
    Send,
    dump_error,
    parse_frame,
)
from voltline_gateway.domain.station_id import is_valid_station_id


def test_parses_call_result_and_error() -> None:
    assert parse_frame('[2,"1","Heartbeat",{}]', OCPP16) == Call("1", "Heartbeat", {})
    assert parse_frame('[3,"1",{"a":1}]', OCPP16) == CallResult("1", {"a": 1})
    assert parse_frame('[4,"1","GenericError","x",{}]', OCPP201) == CallErrorFrame("1", "GenericError", "x", {})


def test_send_only_exists_in_2_1() -> None:
    assert parse_frame('[6,"1","NotifyPeriodicEventStream",{}]', OCPP21) == Send("1", "NotifyPeriodicEventStream", {})
    with pytest.raises(FrameError) as exc:
        parse_frame('[6,"1","X",{}]', OCPP201)
    assert exc.value.code == "MessageTypeNotSupported"


@pytest.mark.parametrize(
    ("text", "message_id"),
    [
        ("not json", None),
        ('{"a":1}', None),
        ("[2]", None),
        ('[2,"",  "Heartbeat", {}]', None),
        ('[2,"' + "x" * 37 + '","Heartbeat",{}]', None),
        ('[2,"7","Heartbeat"]', "7"),
        ('[2,"7","Heartbeat",[]]', "7"),
    ],
)
def test_malformed_frames_raise_format_violation(text: str, message_id: str | None) -> None:
    with pytest.raises(FrameError) as exc:
        parse_frame(text, OCPP201)
    assert exc.value.code == "FormatViolation"
    assert exc.value.message_id == message_id


def test_error_codes_are_spelled_per_version() -> None:
    error = OcppError("FormatViolation", "bad")
    assert json.loads(dump_error("9", error, OCPP16))[2] == "FormationViolation"
    assert json.loads(dump_error("9", error, OCPP201))[2] == "FormatViolation"
    occurrence = OcppError("OccurrenceConstraintViolation", "missing")
    assert json.loads(dump_error("9", occurrence, OCPP16))[2] == "OccurenceConstraintViolation"
    assert json.loads(dump_error("9", occurrence, OCPP201))[2] == "OccurenceConstraintViolation"
    assert json.loads(dump_error("9", occurrence, OCPP21))[2] == "OccurrenceConstraintViolation"
    assert json.loads(dump_error("", error, OCPP21))[1] == "-1"


@pytest.mark.parametrize("sid", ["CP-1", "a", "x" * 48, "A*B-C_D=E:F+G|H@I.J"])
def test_valid_station_ids(sid: str) -> None:
    assert is_valid_station_id(sid)


@pytest.mark.parametrize("sid", ["", "x" * 49, "CP 1", "CP/1", "CP#1", "é"])
def test_invalid_station_ids(sid: str) -> None:
    assert not is_valid_station_id(sid)
