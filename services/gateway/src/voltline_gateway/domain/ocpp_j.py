"""OCPP-J framing: turning a WebSocket text frame into a call, and errors into CallError frames.

Kept apart from the `ocpp` library's classes so that error codes follow each protocol version's own
spelling (1.6 says FormationViolation and OccurenceConstraintViolation, 2.0.1+ FormatViolation and,
in 2.1, OccurrenceConstraintViolation) and so that a bad frame never raises past the connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
OCPP21 = "ocpp2.1"
SUBPROTOCOLS = (OCPP21, OCPP201, OCPP16)

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6

# Generic error names mapped to each version's spelling.
_SPELLING: dict[str, dict[str, str]] = {
    OCPP16: {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        "MessageTypeNotSupported": "ProtocolError",
    },
    OCPP201: {"OccurrenceConstraintViolation": "OccurenceConstraintViolation"},
    OCPP21: {},
}


class OcppError(Exception):
    """An error to answer with a CallError; `code` uses the 2.1 spelling and is translated per version."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


def error_code(code: str, ocpp_version: str) -> str:
    return _SPELLING.get(ocpp_version, {}).get(code, code)


@dataclass(frozen=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallErrorFrame:
    message_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Send:
    """OCPP 2.1 SEND: a one-way message that expects no answer."""

    message_id: str
    action: str
    payload: dict[str, Any]


Frame = Call | CallResult | CallErrorFrame | Send


class FrameError(OcppError):
    """A frame that could not be parsed; `message_id` is set when it could be recovered."""

    def __init__(self, code: str, description: str, message_id: str | None) -> None:
        super().__init__(code, description)
        self.message_id = message_id


def parse_frame(text: str | bytes, ocpp_version: str) -> Frame:
    """Parse one frame, or raise FrameError saying what is wrong with it."""
    try:
        msg = orjson.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError("FormatViolation", f"frame is not valid JSON: {exc}", None) from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise FrameError("FormatViolation", "frame must be a JSON array [type, id, ...]", None)
    message_id = msg[1] if isinstance(msg[1], str) and 0 < len(msg[1]) <= 36 else None
    if message_id is None:
        raise FrameError("FormatViolation", "message id must be a string of 1 to 36 characters", None)
    kind = msg[0]
    if kind == CALL or (kind == SEND and ocpp_version == OCPP21):
        if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
            raise FrameError("FormatViolation", "a call is [2, id, action, {payload}]", message_id)
        return (Call if kind == CALL else Send)(message_id, msg[2], msg[3])
    if kind == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise FrameError("FormatViolation", "a call result is [3, id, {payload}]", message_id)
        return CallResult(message_id, msg[2])
    if kind == CALLERROR or (kind == CALLRESULTERROR and ocpp_version == OCPP21):
        if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str):
            raise FrameError("FormatViolation", "a call error is [4, id, code, description, {details}]", message_id)
        details = msg[4] if isinstance(msg[4], dict) else {}
        return CallErrorFrame(message_id, msg[2], msg[3], details)
    raise FrameError("MessageTypeNotSupported", f"message type {kind!r} is not supported", message_id)


# Frames are UTF-8 bytes, sent as WebSocket text frames (send(..., text=True)) without a decode/encode round.


def dump_call(message_id: str, action: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([CALL, message_id, action, payload])


def dump_result(message_id: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps([CALLRESULT, message_id, payload])


def dump_error(message_id: str, error: OcppError, ocpp_version: str) -> bytes:
    """A CallError frame; an unrecoverable message id is sent as "-1", as OCPP 2.0.1 asks."""
    return orjson.dumps(
        [CALLERROR, message_id or "-1", error_code(error.code, ocpp_version), error.description[:255], error.details]
    )
