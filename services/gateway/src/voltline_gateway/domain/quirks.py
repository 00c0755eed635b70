"""Leniency for chargers in the field: known departures from the schemas, repaired and logged, per model.

A payload is validated as it came; only when it fails, and only for stations whose vendor/model is
configured with a quirk, the violation is repaired and the payload validated again. The fast path of a
valid payload pays nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Protocol

QUIRKS = (
    "unknown_fields",  # properties the schema does not define: dropped
    "enum_case",  # an enum value in the wrong case or padded ("charging", "Available "): the canonical value
    "numeric_strings",  # numbers sent as strings ("1") or strings as numbers (1.6 sampled value 12.5)
    "naive_timestamps",  # date-times without offset (read as UTC) or with a space for the T
    "null_optionals",  # optional fields sent as null or "": dropped
    "long_strings",  # strings longer than the schema allows: truncated
)


class Violation(Protocol):
    rule: str
    path: list[str | int]
    definition: Any
    value: Any


class QuirkRules:
    """Quirks per "vendor/model" glob (case-sensitive), e.g. {"ACME/Volt-*": ["naive_timestamps"]}."""

    def __init__(self, rules: Mapping[str, Sequence[str]]) -> None:
        unknown = {q for names in rules.values() for q in names} - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {', '.join(QUIRKS)}")
        self._rules = {pattern: frozenset(names) for pattern, names in rules.items()}

    def for_model(self, vendor: str | None, model: str | None) -> frozenset[str]:
        if not self._rules:
            return frozenset()
        name = f"{vendor or ''}/{model or ''}"
        found: frozenset[str] = frozenset()
        for pattern, names in self._rules.items():
            if pattern == "*" or fnmatchcase(name, pattern):
                found |= names
        return found


_NAIVE = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d(?:\.\d+)?)$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def repair(payload: dict[str, Any], violation: Violation, enabled: frozenset[str]) -> str | None:
    """Fix the violation in place; returns the quirk applied, or None when none applies."""
    for name in _ORDER:
        if name in enabled and _FIXES[name](payload, violation):
            return name
    return None


def _parent(payload: dict[str, Any], path: list[str | int]) -> tuple[Any, str | int] | None:
    node: Any = payload
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return (node, path[-1]) if path else None


def _set(payload: dict[str, Any], violation: Violation, value: Any) -> bool:
    found = _parent(payload, violation.path)
    if found is None:
        return False
    node, key = found
    node[key] = value
    return True


def _unknown_fields(payload: dict[str, Any], v: Violation) -> bool:
    if v.rule != "additionalProperties" or not isinstance(v.value, dict):
        return False
    allowed = v.definition.get("properties", {})
    extra = [k for k in v.value if k not in allowed]
    for key in extra:
        del v.value[key]
    return bool(extra)


def _enum_case(payload: dict[str, Any], v: Violation) -> bool:
    if v.rule != "enum" or not isinstance(v.value, str):
        return False
    wanted = v.value.strip().lower()
    match = next((e for e in v.definition["enum"] if isinstance(e, str) and e.lower() == wanted), None)
    return match is not None and _set(payload, v, match)


def _numeric_strings(payload: dict[str, Any], v: Violation) -> bool:
    if v.rule != "type":
        return False
    wanted = v.definition.get("type")
    if wanted in ("integer", "number") and isinstance(v.value, str) and _NUMBER.match(v.value.strip()):
        number = float(v.value)
        return _set(payload, v, int(number) if wanted == "integer" and number.is_integer() else number)
    if wanted == "string" and isinstance(v.value, int | float) and not isinstance(v.value, bool):
        return _set(payload, v, repr(v.value) if isinstance(v.value, float) else str(v.value))
    return False


def _naive_timestamps(payload: dict[str, Any], v: Violation) -> bool:
    if v.rule != "format" or not isinstance(v.value, str):
        return False
    if (m := _NAIVE.match(v.value.strip())) is None:
        return False
    fixed = f"{m.group(1)}T{m.group(2)}Z"
    try:
        datetime.fromisoformat(fixed)
    except ValueError:
        return False
    return _set(payload, v, fixed)


def _null_optionals(payload: dict[str, Any], v: Violation) -> bool:
    if v.value not in (None, "") or not v.path:
        return False
    found = _parent(payload, v.path)
    if found is None or not isinstance(found[0], dict):
        return False
    node, key = found
    del node[key]  # if the field was required, revalidation reports it missing: still an error
    return True


def _long_strings(payload: dict[str, Any], v: Violation) -> bool:
    if v.rule != "maxLength" or not isinstance(v.value, str):
        return False
    return _set(payload, v, v.value[: v.definition["maxLength"]])


_FIXES: dict[str, Callable[[dict[str, Any], Violation], bool]] = {
    "unknown_fields": _unknown_fields,
    "enum_case": _enum_case,
    "numeric_strings": _numeric_strings,
    "naive_timestamps": _naive_timestamps,
    "null_optionals": _null_optionals,
    "long_strings": _long_strings,
}
_ORDER = tuple(_FIXES)
