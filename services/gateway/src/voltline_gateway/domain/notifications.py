"""Station notifications of every OCPP version turned into typed, version-neutral events (no I/O).

The payloads have passed schema validation: required fields are present. 2.x integers may arrive as 1.0
(draft 6), hence `_int`. Calls with no entry in `TYPED` are published as `station.message`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voltline_events import Event
from voltline_events.payloads import (
    DataTransfer,
    DeviceEvents,
    DeviceReport,
    FirmwareStatus,
    LogStatus,
    SecurityEvent,
)
from voltline_events.payloads.notifications import (
    ComponentRef,
    DeviceEvent,
    ReportItem,
    VariableAttribute,
    VariableCharacteristics,
    VariableRef,
)

from voltline_gateway.domain.ocpp_j import OCPP16

Normaliser = Callable[[str, dict[str, Any]], Event]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _reason(payload: dict[str, Any]) -> str | None:
    return (payload.get("statusInfo") or {}).get("reasonCode")


def firmware_status(ocpp_version: str, payload: dict[str, Any], *, signed: bool = False) -> FirmwareStatus:
    return FirmwareStatus(
        ocpp_version=ocpp_version,
        status=payload["status"],
        request_id=_int(payload.get("requestId")),
        signed=signed or ocpp_version != OCPP16,
        info=_reason(payload),
    )


def log_status(ocpp_version: str, payload: dict[str, Any], *, kind: str = "log") -> LogStatus:
    return LogStatus(
        ocpp_version=ocpp_version,
        kind=kind,
        status=payload["status"],
        request_id=_int(payload.get("requestId")),
        info=_reason(payload),
    )


def security_event(ocpp_version: str, payload: dict[str, Any]) -> SecurityEvent:
    return SecurityEvent(
        ocpp_version=ocpp_version,
        event_type=payload["type"],
        timestamp=payload["timestamp"],
        tech_info=payload.get("techInfo"),
    )


def _component(raw: dict[str, Any]) -> ComponentRef:
    evse = raw.get("evse") or {}
    return ComponentRef(
        name=raw["name"],
        instance=raw.get("instance"),
        evse_id=_int(evse.get("id")),
        connector_id=_int(evse.get("connectorId")),
    )


def _variable(raw: dict[str, Any]) -> VariableRef:
    return VariableRef(name=raw["name"], instance=raw.get("instance"))


def notify_event(ocpp_version: str, payload: dict[str, Any]) -> DeviceEvents:
    events = [
        DeviceEvent(
            event_id=int(e["eventId"]),
            timestamp=e["timestamp"],
            trigger=e["trigger"],
            actual_value=e["actualValue"],
            component=_component(e["component"]),
            variable=_variable(e["variable"]),
            event_notification_type=e["eventNotificationType"],
            cause=_int(e.get("cause")),
            tech_code=e.get("techCode"),
            tech_info=e.get("techInfo"),
            cleared=bool(e.get("cleared", False)),
            transaction_id=e.get("transactionId"),
            variable_monitoring_id=_int(e.get("variableMonitoringId")),
            severity=_int(e.get("severity")),
        )
        for e in payload["eventData"]
    ]
    return DeviceEvents(
        ocpp_version=ocpp_version,
        generated_at=payload["generatedAt"],
        seq_no=int(payload["seqNo"]),
        tbc=bool(payload.get("tbc", False)),
        events=events,
    )


def _characteristics(raw: dict[str, Any] | None) -> VariableCharacteristics | None:
    if raw is None:
        return None
    return VariableCharacteristics(
        data_type=raw["dataType"],
        supports_monitoring=raw["supportsMonitoring"],
        unit=raw.get("unit"),
        min_limit=raw.get("minLimit"),
        max_limit=raw.get("maxLimit"),
        values_list=raw.get("valuesList"),
    )


def notify_report(ocpp_version: str, payload: dict[str, Any]) -> DeviceReport:
    items = [
        ReportItem(
            component=_component(d["component"]),
            variable=_variable(d["variable"]),
            attributes=[
                VariableAttribute(
                    type=a.get("type", "Actual"),
                    value=None if a.get("value") is None else str(a["value"]),
                    mutability=a.get("mutability"),
                    persistent=a.get("persistent"),
                    constant=a.get("constant"),
                )
                for a in d["variableAttribute"]
            ],
            characteristics=_characteristics(d.get("variableCharacteristics")),
        )
        for d in payload.get("reportData", [])
    ]
    return DeviceReport(
        ocpp_version=ocpp_version,
        request_id=int(payload["requestId"]),
        generated_at=payload["generatedAt"],
        seq_no=int(payload["seqNo"]),
        tbc=bool(payload.get("tbc", False)),
        items=items,
    )


def data_transfer(ocpp_version: str, payload: dict[str, Any]) -> DataTransfer:
    return DataTransfer(
        ocpp_version=ocpp_version,
        vendor_id=payload["vendorId"],
        data_message_id=payload.get("messageId"),
        data=payload.get("data"),
    )


TYPED: dict[str, Normaliser] = {
    "FirmwareStatusNotification": firmware_status,
    "SignedFirmwareStatusNotification": lambda v, p: firmware_status(v, p, signed=True),
    "DiagnosticsStatusNotification": lambda v, p: log_status(v, p, kind="diagnostics"),
    "LogStatusNotification": log_status,
    "SecurityEventNotification": security_event,
    "NotifyEvent": notify_event,
    "NotifyReport": notify_report,
}
