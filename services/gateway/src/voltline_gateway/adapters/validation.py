"""Payload validation against the official OCPP JSON Schemas shipped with the `ocpp` package.

The validators are compiled once per (version, action) and cached by the `ocpp` package.
"""

from __future__ import annotations

from typing import Any

from ocpp.messages import MessageType, get_validator

from voltline_gateway.domain.ocpp_j import OcppError

_LIB_VERSION = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}

# jsonschema's failing keyword -> the OCPP error it means.
_CODE_BY_KEYWORD = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "minLength": "TypeConstraintViolation",
    "required": "OccurrenceConstraintViolation",
    "additionalProperties": "FormatViolation",
    "enum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
}


def validate_call(ocpp_version: str, action: str, payload: dict[str, Any]) -> None:
    """Raise OcppError naming the offending field when `payload` breaks the action's schema."""
    _validate(MessageType.Call, ocpp_version, action, payload)


def validate_result(ocpp_version: str, action: str, payload: dict[str, Any]) -> None:
    """Check our own answers too: a CSMS must never send a station an invalid response."""
    _validate(MessageType.CallResult, ocpp_version, action, payload)


def _validate(kind: int, ocpp_version: str, action: str, payload: dict[str, Any]) -> None:
    try:
        validator = get_validator(kind, action, _LIB_VERSION[ocpp_version])
    except OSError:
        raise OcppError("NotImplemented", f"{action} is not an action of {ocpp_version}") from None
    error = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
    code = _CODE_BY_KEYWORD.get(str(error.validator), "FormatViolation")
    raise OcppError(code, f"{action}: {where}: {error.message}", {"field": where})
