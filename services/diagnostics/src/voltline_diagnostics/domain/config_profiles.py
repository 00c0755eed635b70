"""Configuration profiles as rules: the desired settings of a model or group, what a station reported
(read from the answers to configuration commands), and the drift between them.

Settings are named as the set-configuration command names them (common names, 1.6 keys, 2.x
`Component.Variable`); each is compared under the station's own identifier for its version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voltline_diagnostics.domain.config_mapping import OCPP16, UnknownSetting, Variable, key_16, variable_2x

Reported = dict[str, tuple[str | None, bool]]  # station identifier -> (value, reboot required)


def station_key(name: str, version: str) -> str:
    """How a station of `version` names the setting (UnknownSetting when it cannot)."""
    return key_16(name) if version == OCPP16 else variable_2x(name).name


def _variable_name(item: dict[str, Any]) -> str | None:
    component, variable = item.get("component") or {}, item.get("variable") or {}
    if not component.get("name") or not variable.get("name"):
        return None
    return Variable(component["name"], variable["name"], component.get("instance"), variable.get("instance")).name


def reported_values(
    action: str | None, payload: dict[str, Any] | None, response: dict[str, Any] | None
) -> dict[str, tuple[str | None, bool]]:
    """Settings a station's answer tells us: what it reports, or what it accepted to set."""
    payload, response = payload or {}, response or {}
    found: dict[str, tuple[str | None, bool]] = {}
    if action == "GetConfiguration":
        for item in response.get("configurationKey") or []:
            if isinstance(item, dict) and item.get("key"):
                found[item["key"]] = (item.get("value"), False)
    elif action == "GetVariables":
        for item in response.get("getVariableResult") or []:
            name = _variable_name(item) if isinstance(item, dict) else None
            if name and item.get("attributeStatus") == "Accepted":
                found[name] = (item.get("attributeValue"), False)
    elif action == "ChangeConfiguration" and response.get("status") in ("Accepted", "RebootRequired"):
        found[payload["key"]] = (payload.get("value"), response["status"] == "RebootRequired")
    elif action == "SetVariables":
        wanted = {_variable_name(i): i.get("attributeValue") for i in payload.get("setVariableData") or []}
        for item in response.get("setVariableResult") or []:
            name = _variable_name(item) if isinstance(item, dict) else None
            status = item.get("attributeStatus") if isinstance(item, dict) else None
            if name is not None and name in wanted and status in ("Accepted", "RebootRequired"):
                found[name] = (wanted[name], status == "RebootRequired")
    return found


@dataclass(frozen=True)
class DriftItem:
    name: str
    key: str | None
    desired: str
    reported: str | None
    in_sync: bool
    reboot_required: bool
    problem: str | None = None


def drift(settings: dict[str, str], version: str | None, reported: Reported) -> list[DriftItem]:
    items = []
    for name, desired in sorted(settings.items()):
        if version is None:
            items.append(DriftItem(name, None, desired, None, False, False, "station version unknown"))
            continue
        try:
            key = station_key(name, version)
        except UnknownSetting as exc:
            items.append(DriftItem(name, None, desired, None, False, False, str(exc)))
            continue
        value, reboot = reported.get(key, (None, False))
        items.append(DriftItem(name, key, desired, value, value == desired, reboot))
    return items
