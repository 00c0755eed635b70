"""Operator commands, version-neutral, and the OCPP call each one becomes for a station's protocol version.

Pure rules: `translate` turns a command name and its (already validated) parameters into the action and
payload for 1.6, 2.0.1 or 2.1, or says why that version cannot do it; `classify` turns the gateway's
verdict and the station's answer into the command record's status. docs/maintenance.md has the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from voltline_diagnostics.domain.config_mapping import UnknownSetting, key_16, variable_2x

OCPP16, OCPP201, OCPP21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"
VERSIONS = (OCPP16, OCPP201, OCPP21)

CommandStatus = Literal[
    "queued", "sent", "accepted", "rejected", "not_supported", "failed", "timed_out", "station_offline"
]
FINAL: frozenset[str] = frozenset({"accepted", "rejected", "not_supported", "failed", "timed_out", "station_offline"})


class CommandNotPossible(ValueError):
    """The command cannot be expressed for this station (its version lacks it, or a parameter does not fit)."""

    def __init__(self, message: str, *, field: str | None = None, not_supported: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.not_supported = not_supported


@dataclass(frozen=True)
class OcppCall:
    action: str
    payload: dict[str, Any]


Params = dict[str, Any]


def _only_2x(command: str, version: str) -> None:
    if version == OCPP16:
        raise CommandNotPossible(
            f"{command} exists only in OCPP 2.0.1 and 2.1; this station speaks 1.6", not_supported=True
        )


def _evse(evse_id: int | None, connector_id: int | None) -> dict[str, int] | None:
    """2.x EVSE reference; a connector alone names the EVSE of the same number (one connector per EVSE)."""
    if evse_id is None and connector_id is None:
        return None
    if evse_id is None:
        return {"id": int(connector_id or 0)}
    evse = {"id": evse_id}
    if connector_id is not None:
        evse["connectorId"] = connector_id
    return evse


def _reset(p: Params, v: str, _rid: int) -> OcppCall:
    if v == OCPP16:
        if p.get("evse_id") is not None:
            raise CommandNotPossible("1.6 resets the whole station; evse_id needs 2.x", field="evse_id")
        if p.get("when") is not None:
            raise CommandNotPossible("1.6 has no immediate/on-idle choice; use type soft or hard", field="when")
        return OcppCall("Reset", {"type": "Hard" if p["type"] == "hard" else "Soft"})
    when = p.get("when") or ("immediate" if p["type"] == "hard" else "on_idle")
    payload: dict[str, Any] = {"type": "Immediate" if when == "immediate" else "OnIdle"}
    if p.get("evse_id") is not None:
        payload["evseId"] = p["evse_id"]
    return OcppCall("Reset", payload)


def _unlock(p: Params, v: str, _rid: int) -> OcppCall:
    if v == OCPP16:
        return OcppCall("UnlockConnector", {"connectorId": p["connector_id"]})
    evse_id = p.get("evse_id") if p.get("evse_id") is not None else p["connector_id"]
    return OcppCall("UnlockConnector", {"evseId": evse_id, "connectorId": p["connector_id"]})


def _availability(p: Params, v: str, _rid: int) -> OcppCall:
    kind = "Operative" if p["operative"] else "Inoperative"
    if v == OCPP16:
        connector = p.get("connector_id") if p.get("connector_id") is not None else p.get("evse_id")
        return OcppCall("ChangeAvailability", {"connectorId": connector or 0, "type": kind})
    payload: dict[str, Any] = {"operationalStatus": kind}
    evse = _evse(p.get("evse_id"), p.get("connector_id"))
    if evse is not None and evse["id"] != 0:
        payload["evse"] = evse
    return OcppCall("ChangeAvailability", payload)


# neutral name -> (1.6 TriggerMessage, 1.6 ExtendedTriggerMessage, 2.x TriggerMessage)
_TRIGGERS: dict[str, tuple[str | None, str | None, str]] = {
    "boot_notification": ("BootNotification", "BootNotification", "BootNotification"),
    "heartbeat": ("Heartbeat", "Heartbeat", "Heartbeat"),
    "status_notification": ("StatusNotification", "StatusNotification", "StatusNotification"),
    "meter_values": ("MeterValues", "MeterValues", "MeterValues"),
    "firmware_status": ("FirmwareStatusNotification", "FirmwareStatusNotification", "FirmwareStatusNotification"),
    "diagnostics_status": ("DiagnosticsStatusNotification", None, "LogStatusNotification"),
    "log_status": (None, "LogStatusNotification", "LogStatusNotification"),
    "sign_certificate": (None, "SignChargePointCertificate", "SignChargingStationCertificate"),
    "transaction_event": (None, None, "TransactionEvent"),
}
TRIGGER_MESSAGES = tuple(_TRIGGERS)


def _trigger(p: Params, v: str, _rid: int) -> OcppCall:
    basic, extended, two = _TRIGGERS[p["message"]]
    if v == OCPP16:
        connector = p.get("connector_id") if p.get("connector_id") is not None else p.get("evse_id")
        extra = {"connectorId": connector} if connector is not None else {}
        if basic is not None:
            return OcppCall("TriggerMessage", {"requestedMessage": basic, **extra})
        if extended is not None:
            return OcppCall("ExtendedTriggerMessage", {"requestedMessage": extended, **extra})
        raise CommandNotPossible(f"1.6 cannot trigger {p['message']}", field="message", not_supported=True)
    payload: dict[str, Any] = {"requestedMessage": two}
    evse = _evse(p.get("evse_id"), p.get("connector_id"))
    if evse is not None:
        payload["evse"] = evse
    return OcppCall("TriggerMessage", payload)


def _clear_cache(_p: Params, _v: str, _rid: int) -> OcppCall:
    return OcppCall("ClearCache", {})


def _data_transfer(p: Params, v: str, _rid: int) -> OcppCall:
    payload: dict[str, Any] = {"vendorId": p["vendor_id"]}
    if p.get("message_id") is not None:
        payload["messageId"] = p["message_id"]
    data = p.get("data")
    if data is not None:
        payload["data"] = data if v != OCPP16 or isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return OcppCall("DataTransfer", payload)


def _setting(name: str, v: str, field: str) -> Any:
    try:
        return key_16(name) if v == OCPP16 else variable_2x(name)
    except UnknownSetting as exc:
        raise CommandNotPossible(str(exc), field=field) from None


def _get_configuration(p: Params, v: str, rid: int) -> OcppCall:
    keys: list[str] = p.get("keys") or []
    if v == OCPP16:
        return OcppCall("GetConfiguration", {"key": [_setting(k, v, "keys") for k in keys]} if keys else {})
    if not keys:  # everything: the station reports it in NotifyReport messages
        return OcppCall("GetBaseReport", {"requestId": rid, "reportBase": "ConfigurationInventory"})
    return OcppCall("GetVariables", {"getVariableData": [_setting(k, v, "keys").ocpp() for k in keys]})


def _set_configuration(p: Params, v: str, _rid: int) -> OcppCall:
    if v == OCPP16:
        return OcppCall("ChangeConfiguration", {"key": _setting(p["key"], v, "key"), "value": p["value"]})
    var = _setting(p["key"], v, "key")
    return OcppCall("SetVariables", {"setVariableData": [{"attributeValue": p["value"], **var.ocpp()}]})


def _component_variable(item: Params) -> dict[str, Any]:
    component: dict[str, Any] = {"name": item["component"]}
    if item.get("component_instance"):
        component["instance"] = item["component_instance"]
    evse = _evse(item.get("evse_id"), item.get("connector_id") if item.get("evse_id") is not None else None)
    if evse is not None:
        component["evse"] = evse
    variable: dict[str, Any] = {"name": item["variable"]}
    if item.get("variable_instance"):
        variable["instance"] = item["variable_instance"]
    return {"component": component, "variable": variable}


def _attribute(item: Params) -> dict[str, str]:
    return {"attributeType": item["attribute_type"]} if item.get("attribute_type") else {}


def _get_variables(p: Params, v: str, _rid: int) -> OcppCall:
    _only_2x("get-variables", v)
    data = [{**_component_variable(i), **_attribute(i)} for i in p["variables"]]
    return OcppCall("GetVariables", {"getVariableData": data})


def _set_variables(p: Params, v: str, _rid: int) -> OcppCall:
    _only_2x("set-variables", v)
    data = [{"attributeValue": i["value"], **_component_variable(i), **_attribute(i)} for i in p["variables"]]
    return OcppCall("SetVariables", {"setVariableData": data})


_REPORT_BASES = {
    "configuration_inventory": "ConfigurationInventory",
    "full_inventory": "FullInventory",
    "summary_inventory": "SummaryInventory",
}


def _get_base_report(p: Params, v: str, rid: int) -> OcppCall:
    _only_2x("get-base-report", v)
    return OcppCall("GetBaseReport", {"requestId": rid, "reportBase": _REPORT_BASES[p["report_base"]]})


def _get_report(p: Params, v: str, rid: int) -> OcppCall:
    _only_2x("get-report", v)
    payload: dict[str, Any] = {"requestId": rid}
    if p.get("component_criteria"):
        payload["componentCriteria"] = p["component_criteria"]
    if p.get("variables"):
        payload["componentVariable"] = [_component_variable(i) for i in p["variables"]]
    return OcppCall("GetReport", payload)


def _set_variable_monitoring(p: Params, v: str, _rid: int) -> OcppCall:
    _only_2x("set-variable-monitoring", v)
    data = []
    for m in p["monitors"]:
        item: dict[str, Any] = {"value": m["value"], "type": m["type"], "severity": m["severity"]}
        item.update(_component_variable(m))
        if m.get("id") is not None:
            item["id"] = m["id"]
        if m.get("transaction") is not None:
            item["transaction"] = m["transaction"]
        data.append(item)
    return OcppCall("SetVariableMonitoring", {"setMonitoringData": data})


def _clear_variable_monitoring(p: Params, v: str, _rid: int) -> OcppCall:
    _only_2x("clear-variable-monitoring", v)
    return OcppCall("ClearVariableMonitoring", {"id": list(p["ids"])})


_BASES = {"all": "All", "factory_default": "FactoryDefault", "hard_wired_only": "HardWiredOnly"}


def _set_monitoring_base(p: Params, v: str, _rid: int) -> OcppCall:
    _only_2x("set-monitoring-base", v)
    return OcppCall("SetMonitoringBase", {"monitoringBase": _BASES[p["base"]]})


def _set_monitoring_level(p: Params, v: str, _rid: int) -> OcppCall:
    _only_2x("set-monitoring-level", v)
    return OcppCall("SetMonitoringLevel", {"severity": p["severity"]})


def _customer_information(p: Params, v: str, rid: int) -> OcppCall:
    _only_2x("customer-information", v)
    payload: dict[str, Any] = {"requestId": rid, "report": p["report"], "clear": p["clear"]}
    if p.get("customer_identifier"):
        payload["customerIdentifier"] = p["customer_identifier"]
    if p.get("id_token"):
        payload["idToken"] = {"idToken": p["id_token"]["id_token"], "type": p["id_token"]["type"]}
    return OcppCall("CustomerInformation", payload)


_CERTS_16 = {"csms_root": "CentralSystemRootCertificate", "manufacturer_root": "ManufacturerRootCertificate"}
_CERTS_2X = {
    "csms_root": "CSMSRootCertificate",
    "manufacturer_root": "ManufacturerRootCertificate",
    "v2g_root": "V2GRootCertificate",
    "mo_root": "MORootCertificate",
    "v2g_chain": "V2GCertificateChain",
}
CERTIFICATE_TYPES = tuple(_CERTS_2X)


def _get_installed_certificates(p: Params, v: str, _rid: int) -> OcppCall:
    types: list[str] = p.get("certificate_types") or []
    if v == OCPP16:  # security extension: exactly one type per call
        if len(types) > 1 or any(t not in _CERTS_16 for t in types):
            raise CommandNotPossible(
                "1.6 asks for one type at a time, csms_root or manufacturer_root", field="certificate_types"
            )
        return OcppCall(
            "GetInstalledCertificateIds", {"certificateType": _CERTS_16[types[0] if types else "csms_root"]}
        )
    return OcppCall("GetInstalledCertificateIds", {"certificateType": [_CERTS_2X[t] for t in types]} if types else {})


def _get_log(p: Params, v: str, rid: int) -> OcppCall:
    """1.6 diagnostics: GetDiagnostics; 1.6 security log (security extension) and all 2.x logs: GetLog."""
    retry: dict[str, int] = {}
    if p.get("retries") is not None:
        retry["retries"] = p["retries"]
    if p.get("retry_interval_s") is not None:
        retry["retryInterval"] = p["retry_interval_s"]
    if v == OCPP16 and p["log_type"] == "diagnostics":
        payload: dict[str, Any] = {"location": p["location"], **retry}
        if p.get("from"):
            payload["startTime"] = p["from"]
        if p.get("to"):
            payload["stopTime"] = p["to"]
        return OcppCall("GetDiagnostics", payload)
    log: dict[str, Any] = {"remoteLocation": p["location"]}
    if p.get("from"):
        log["oldestTimestamp"] = p["from"]
    if p.get("to"):
        log["latestTimestamp"] = p["to"]
    kind = "DiagnosticsLog" if p["log_type"] == "diagnostics" else "SecurityLog"
    return OcppCall("GetLog", {"logType": kind, "requestId": rid, "log": log, **retry})


def _update_firmware(p: Params, v: str, rid: int) -> OcppCall:
    """1.6: UpdateFirmware, or SignedUpdateFirmware (security extension) when signed; 2.x: UpdateFirmware."""
    retry: dict[str, int] = {}
    if p.get("retries") is not None:
        retry["retries"] = p["retries"]
    if p.get("retry_interval_s") is not None:
        retry["retryInterval"] = p["retry_interval_s"]
    signed = bool(p.get("signing_certificate") and p.get("signature"))
    firmware: dict[str, Any] = {"location": p["location"], "retrieveDateTime": p["retrieve_at"]}
    if p.get("install_at"):
        firmware["installDateTime"] = p["install_at"]
    if signed:
        firmware["signingCertificate"] = p["signing_certificate"]
        firmware["signature"] = p["signature"]
    if v == OCPP16 and not signed:
        return OcppCall("UpdateFirmware", {"location": p["location"], "retrieveDate": p["retrieve_at"], **retry})
    action = "SignedUpdateFirmware" if v == OCPP16 else "UpdateFirmware"
    return OcppCall(action, {"requestId": rid, "firmware": firmware, **retry})


def _raw(p: Params, _v: str, _rid: int) -> OcppCall:
    return OcppCall(p["action"], dict(p["payload"]))


Translator = Callable[[Params, str, int], OcppCall]
TRANSLATORS: dict[str, Translator] = {
    "reset": _reset,
    "unlock": _unlock,
    "availability": _availability,
    "trigger": _trigger,
    "clear-cache": _clear_cache,
    "data-transfer": _data_transfer,
    "get-configuration": _get_configuration,
    "set-configuration": _set_configuration,
    "get-variables": _get_variables,
    "set-variables": _set_variables,
    "get-base-report": _get_base_report,
    "get-report": _get_report,
    "set-variable-monitoring": _set_variable_monitoring,
    "clear-variable-monitoring": _clear_variable_monitoring,
    "set-monitoring-base": _set_monitoring_base,
    "set-monitoring-level": _set_monitoring_level,
    "customer-information": _customer_information,
    "get-installed-certificates": _get_installed_certificates,
    "get-log": _get_log,
    "update-firmware": _update_firmware,
    "raw": _raw,
}


def translate(command: str, params: Params, version: str, request_id: int) -> OcppCall:
    if version not in VERSIONS:
        raise CommandNotPossible(f"unknown OCPP version {version!r}", not_supported=True)
    return TRANSLATORS[command](params, version, request_id)


# Answers whose `status` means the station will do it (or did); everything else it refused.
_ACCEPTED = frozenset(
    {"Accepted", "Unlocked", "Scheduled", "RebootRequired", "AcceptedCanceled", "EmptyResultSet", "NotFound"}
)
_NOT_SUPPORTED = frozenset({"NotSupported", "NotImplemented"})


@dataclass(frozen=True)
class Verdict:
    status: CommandStatus
    reboot_required: bool = False
    detail: str | None = None


def reboot_required(payload: dict[str, Any]) -> bool:
    if payload.get("status") == "RebootRequired":
        return True
    results = payload.get("setVariableResult") or []
    return any(r.get("attributeStatus") == "RebootRequired" for r in results if isinstance(r, dict))


def classify(
    outcome: str, payload: dict[str, Any] | None, error_code: str | None, error_description: str | None
) -> Verdict:
    """The command record's status from the gateway's outcome and the station's answer."""
    if outcome == "offline":
        return Verdict("station_offline", detail=error_description or "no gateway holds the station")
    if outcome == "timeout":
        return Verdict("timed_out", detail=error_description or "the station did not answer in time")
    if outcome == "invalid":
        text = f"{error_code or ''} {error_description or ''}".strip()
        unsupported = "is not an action the CSMS can send" in text
        return Verdict("not_supported" if unsupported else "failed", detail=text or "refused by the gateway")
    if outcome == "call_error":
        status: CommandStatus = "not_supported" if error_code in _NOT_SUPPORTED else "failed"
        return Verdict(status, detail=f"{error_code}: {error_description or ''}".strip())
    payload = payload or {}
    answer = payload.get("status")
    if answer is None or answer in _ACCEPTED:
        return Verdict("accepted", reboot_required=reboot_required(payload))
    if answer in _NOT_SUPPORTED:
        return Verdict("not_supported", detail=str(answer))
    info = payload.get("statusInfo") or {}
    reason = info.get("reasonCode") if isinstance(info, dict) else None
    return Verdict("rejected", detail=f"{answer}" + (f" ({reason})" if reason else ""))
