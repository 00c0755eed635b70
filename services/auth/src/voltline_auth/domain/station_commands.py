"""The OCPP calls auth sends to stations, per protocol version, and how to read their answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voltline_events.payloads.commands import StationCommandResult

# Call errors that mean "this station will never do it": retrying is pointless.
_PERMANENT_ERRORS = frozenset({"NotImplemented", "NotSupported"})


@dataclass(frozen=True)
class Command:
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    retry: bool  # worth sending again later (station offline, timeout, a transient failure)
    detail: str
    status: str | None = None  # the station's answer status, when it answered


def clear_cache() -> Command:
    return Command("ClearCache", {})


def get_local_list_version() -> Command:
    return Command("GetLocalListVersion", {})


def set_basic_auth_password(ocpp_version: str, password: str) -> Command:
    """1.6 security whitepaper: ChangeConfiguration AuthorizationKey; 2.x: SecurityCtrlr.BasicAuthPassword."""
    if ocpp_version == "ocpp1.6":
        return Command("ChangeConfiguration", {"key": "AuthorizationKey", "value": password})
    data = {
        "attributeValue": password,
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
    }
    return Command("SetVariables", {"setVariableData": [data]})


def answer_status(action: str, payload: dict[str, Any] | None) -> str | None:
    """The status field of an answer; SetVariables nests it per variable."""
    if not payload:
        return None
    if action == "SetVariables":
        results = payload.get("setVariableResult") or [{}]
        status = results[0].get("attributeStatus") if isinstance(results[0], dict) else None
    else:
        status = payload.get("status")
    return status if isinstance(status, str) else None


# Per action: answers that mean done, and answers that mean "never" (others are retried).
_OK = {
    "ClearCache": {"Accepted"},
    "ChangeConfiguration": {"Accepted", "RebootRequired"},
    "SetVariables": {"Accepted", "RebootRequired"},
    "SendLocalList": {"Accepted"},
}
_NEVER = {
    "ClearCache": {"Rejected"},
    "ChangeConfiguration": {"Rejected", "NotSupported"},
    "SetVariables": {"Rejected", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"},
    "SendLocalList": {"NotSupported"},
}


def judge(result: StationCommandResult) -> Verdict:
    """Turn the gateway's result into: done, retry later, or give up."""
    if result.outcome in ("offline", "timeout"):
        return Verdict(False, True, f"station {result.outcome}")
    if result.outcome == "invalid":
        return Verdict(False, False, f"gateway refused the command: {result.error_description or 'invalid'}")
    if result.outcome == "call_error":
        code = result.error_code or "InternalError"
        return Verdict(False, code not in _PERMANENT_ERRORS, f"station answered CALLERROR {code}")
    if result.action not in _OK:  # a question (GetLocalListVersion): any answer is the answer
        return Verdict(True, False, "station answered")
    status = answer_status(result.action, result.payload)
    if status in _OK.get(result.action, set()):
        return Verdict(True, False, f"station answered {status}", status)
    never = status in _NEVER.get(result.action, set())
    return Verdict(False, not never, f"station answered {status or 'without a status'}", status)
