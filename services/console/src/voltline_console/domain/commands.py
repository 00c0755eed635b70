"""The station maintenance actions the console offers, their form fields and the body each sends (no I/O here).

Each maps to a diagnostics route (`POST /stations/{id}/commands/{command}`, `/stations/{id}/logs`, or a
one-station firmware campaign). A field typed wrong is refused here, next to the field, before any call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["text", "int", "bool", "select"]
TRIGGERS = ("boot_notification", "heartbeat", "status_notification", "meter_values", "firmware_status",
            "diagnostics_status", "log_status")  # fmt: skip


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    kind: Kind = "text"
    required: bool = False
    options: tuple[str, ...] = ()
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    """One maintenance action: what the confirmation says and which fields it asks for."""

    name: str
    title: str
    warning: str
    fields: tuple[FormField, ...] = field(default_factory=tuple)
    route: Literal["command", "logs", "firmware"] = "command"


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("unlock", "Unlock a connector", "The connector's cable is released.",
               (FormField("connector_id", "Connector", "int", True, hint="1"),
                FormField("evse_id", "EVSE (2.x)", "int"))),
        Action("availability", "Change availability", "An inoperative connector refuses new sessions.",
               (FormField("operative", "Operative", "select", True, ("true", "false")),
                FormField("evse_id", "EVSE (empty: the whole station)", "int"),
                FormField("connector_id", "Connector", "int"))),
        Action("trigger", "Trigger a message", "The station sends the message now.",
               (FormField("message", "Message", "select", True, TRIGGERS),
                FormField("connector_id", "Connector", "int"))),
        Action("get-configuration", "Read the configuration", "The station reports its keys.",
               (FormField("keys", "Keys (comma separated; empty: all)"),)),
        Action("set-configuration", "Change a configuration key", "The station applies the new value.",
               (FormField("key", "Key", required=True), FormField("value", "Value", required=True))),
        Action("logs", "Get the logs", "The station uploads its diagnostics log.",
               (FormField("log_type", "Log", "select", True, ("diagnostics", "security")),), route="logs"),
        Action("firmware", "Update the firmware", "The station downloads the firmware and reboots.",
               (FormField("firmware_id", "Firmware (from the catalogue)", required=True),), route="firmware"),
    )
}  # fmt: skip


def action_body(action: Action, form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON body of the action from its form, or the errors by field (nothing is sent then)."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in action.fields:
        raw = (form.get(f.name) or "").strip()
        if not raw:
            if f.required:
                errors[f.name] = "required"
            continue
        if f.kind == "int":
            if not raw.isdigit():
                errors[f.name] = "a whole number"
                continue
            body[f.name] = int(raw)
        elif f.kind == "select" and raw not in f.options:
            errors[f.name] = f"one of {', '.join(f.options)}"
        elif f.name == "operative":
            body[f.name] = raw == "true"
        elif f.name == "keys":
            body[f.name] = [k.strip() for k in raw.split(",") if k.strip()]
        else:
            body[f.name] = raw
    return body, errors


def configuration_keys(response: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Key/value rows of a GetConfiguration answer (1.6 `configurationKey`, or the neutral `keys`)."""
    if not response:
        return []
    rows = response.get("configurationKey") or response.get("configuration_key") or response.get("keys") or []
    return [
        {"key": r.get("key"), "value": r.get("value"), "readonly": bool(r.get("readonly"))}
        for r in rows
        if isinstance(r, Mapping)
    ]
