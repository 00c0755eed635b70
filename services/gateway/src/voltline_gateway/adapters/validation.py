"""Payload validation against the official OCPP JSON Schemas shipped in the `ocpp` package.

The stock library runs jsonschema, which costs hundreds of microseconds for a 1 KB MeterValues. Here each
schema is compiled once (lazily, by adapters.schema_compiler) into plain Python code that accepts and rejects
exactly what jsonschema does with the same schema (tests/test_validation_equivalence.py proves it over valid
and invalid corpora). Formats: `date-time` is enforced as RFC 3339 (the rules of the checker jsonschema uses);
`uri` is an annotation, as it is for jsonschema without extra packages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import ocpp

from voltline_gateway.adapters.schema_compiler import Invalid, compile_schema
from voltline_gateway.domain.ocpp_j import OCPP16, OCPP21, OCPP201, OcppError
from voltline_gateway.domain.rfc3339 import is_date_time

Validator = Callable[[Any], Any]

SCHEMA_DIRS = {OCPP16: "v16", OCPP201: "v201", OCPP21: "v21"}
_SCHEMA_ROOT = Path(ocpp.__file__).parent
FORMATS: dict[str, Callable[[str], bool]] = {"date-time": is_date_time, "uri": lambda _value: True}

# The failing keyword -> the OCPP error it means.
_CODE_BY_RULE = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "minLength": "TypeConstraintViolation",
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "additionalProperties": "FormatViolation",
    "enum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
}


def schema_path(ocpp_version: str, action: str, *, response: bool) -> Path:
    """Where the official schema of an action's request (or response) is."""
    folder = _SCHEMA_ROOT / SCHEMA_DIRS.get(ocpp_version, "-") / "schemas"
    suffix = "Response" if response else ("" if ocpp_version == OCPP16 else "Request")
    path = folder / f"{action}{suffix}.json"
    if not response and not path.is_file():  # 2.1 SEND messages (NotifyPeriodicEventStream) have no suffix
        return folder / f"{action}.json"
    return path


def load_schema(path: Path) -> dict[str, Any]:
    # The 2.x schema files start with a byte order mark.
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return schema


def schema_actions(ocpp_version: str) -> set[str]:
    """Every action that has a request schema in this version."""
    names = {p.stem for p in (_SCHEMA_ROOT / SCHEMA_DIRS[ocpp_version] / "schemas").glob("*.json")}
    if ocpp_version == OCPP16:
        return {n for n in names if not n.endswith("Response")}
    return {n.removesuffix("Request") for n in names if not n.endswith("Response")}


@cache
def validator(ocpp_version: str, action: str, response: bool) -> Validator | None:
    """The compiled validator, or None when the version has no such action."""
    path = schema_path(ocpp_version, action, response=response)
    if not path.is_file():
        return None
    return compile_schema(load_schema(path), FORMATS)


def warm_up(ocpp_version: str, actions: list[str]) -> None:
    """Compile the schemas a station will use at once, so its first call does not pay for it."""
    for action in actions:
        validator(ocpp_version, action, False)
        validator(ocpp_version, action, True)


def validate_call(ocpp_version: str, action: str, payload: dict[str, Any]) -> None:
    """Raise OcppError naming the offending field when `payload` breaks the action's request schema."""
    _validate(ocpp_version, action, payload, response=False)


def validate_result(ocpp_version: str, action: str, payload: dict[str, Any]) -> None:
    """Check answers too: ours before they go out, and stations' answers to our commands."""
    _validate(ocpp_version, action, payload, response=True)


def violation(ocpp_version: str, action: str, payload: Any, *, response: bool) -> SchemaViolation | None:
    """The first violation of the schema, or None when the payload is valid."""
    check = validator(ocpp_version, action, response)
    if check is None:
        raise OcppError("NotImplemented", f"{action} is not an action of {ocpp_version}")
    try:
        check(payload)
    except Invalid as exc:
        return SchemaViolation.of(exc)
    return None


def _validate(ocpp_version: str, action: str, payload: Any, *, response: bool) -> None:
    error = violation(ocpp_version, action, payload, response=response)
    if error is not None:
        raise error.as_ocpp_error(action)


class SchemaViolation:
    """What is wrong with a payload: the keyword that failed, where, and the sub-schema it failed."""

    __slots__ = ("definition", "message", "path", "rule", "value")

    def __init__(self, rule: str, path: list[str | int], message: str, definition: Any, value: Any) -> None:
        self.rule, self.path, self.message, self.definition, self.value = rule, path, message, definition, value

    @classmethod
    def of(cls, exc: Invalid) -> SchemaViolation:
        path: list[str | int] = list(exc.path)
        value, definition = exc.value, exc.definition
        where = "/".join(str(p) for p in path) or "payload"
        if isinstance(value, dict):  # name the missing or unexpected field itself
            if exc.rule == "required":
                missing = [k for k in definition.get("required", ()) if k not in value]
                path.extend(missing[:1])
                return cls(exc.rule, path, f"{where} must contain {missing}", definition, value)
            if exc.rule == "additionalProperties":
                extra = [k for k in value if k not in definition.get("properties", {})]
                path.extend(extra[:1])
                return cls(exc.rule, path, f"{where} must not contain {extra}", definition, value)
        return cls(exc.rule, path, f"{where} {_explain(exc.rule, definition)}", definition, value)

    @property
    def field(self) -> str:
        return "/".join(str(p) for p in self.path) or "(payload)"

    def as_ocpp_error(self, action: str) -> OcppError:
        code = _CODE_BY_RULE.get(self.rule, "FormatViolation")
        return OcppError(code, f"{action}: {self.message}", {"field": self.field})


def _explain(rule: str, definition: dict[str, Any]) -> str:
    bound = definition.get(rule)
    return {
        "type": f"must be {definition.get('type')}",
        "enum": f"must be one of {definition.get('enum')}",
        "minLength": f"must be at least {bound} characters long",
        "maxLength": f"must be at most {bound} characters long",
        "minimum": f"must be at least {bound}",
        "maximum": f"must be at most {bound}",
        "minItems": f"must have at least {bound} items",
        "maxItems": f"must have at most {bound} items",
        "format": f"must be a valid {definition.get('format')}",
        "multipleOf": f"must be a multiple of {bound}",
    }.get(rule, f"breaks {rule}")
