"""Bodies of the command routes: one per command, the same whatever the station's protocol version."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from voltline_diagnostics.domain.commands import CERTIFICATE_TYPES, TRIGGER_MESSAGES
from voltline_diagnostics.service_layer.maintenance_ports import CommandRecord

# OCPP's own names are accepted too, whatever their case (Soft, BootNotification, ...).
_OCPP_TRIGGERS = {
    "bootnotification": "boot_notification",
    "heartbeat": "heartbeat",
    "statusnotification": "status_notification",
    "metervalues": "meter_values",
    "firmwarestatusnotification": "firmware_status",
    "diagnosticsstatusnotification": "diagnostics_status",
    "logstatusnotification": "log_status",
    "signchargepointcertificate": "sign_certificate",
    "signchargingstationcertificate": "sign_certificate",
    "transactionevent": "transaction_event",
}


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    wait_for_station_s: float | None = Field(
        default=None,
        gt=0,
        description="If the station is offline, wait this long for it to come back instead of failing at once.",
    )


class Reset(CommandBody):
    type: Literal["soft", "hard"]
    when: Literal["immediate", "on_idle"] | None = Field(
        default=None, description="2.x only; default: hard → Immediate, soft → OnIdle."
    )
    evse_id: int | None = Field(default=None, ge=1, description="2.x only: reset one EVSE.")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return _lower(value)

    @field_validator("when", mode="before")
    @classmethod
    def _when(cls, value: Any) -> Any:
        return {"onidle": "on_idle"}.get(_lower(value), _lower(value))


class Unlock(CommandBody):
    evse_id: int | None = Field(default=None, ge=1, description="2.x; default: the EVSE numbered like the connector.")
    connector_id: int = Field(ge=1)


class Availability(CommandBody):
    operative: bool
    evse_id: int | None = Field(default=None, ge=0)
    connector_id: int | None = Field(default=None, ge=0)


class Trigger(CommandBody):
    # mypy: a Literal of a runtime tuple: pydantic reads it
    message: Literal[TRIGGER_MESSAGES] = Field(  # type: ignore[valid-type]
        validation_alias=AliasChoices("message", "requested_message"),
        description="A neutral name (boot_notification, heartbeat, ...) or OCPP's (BootNotification, ...).",
    )
    evse_id: int | None = Field(default=None, ge=1)
    connector_id: int | None = Field(default=None, ge=1)

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: Any) -> Any:
        return _OCPP_TRIGGERS.get(_lower(value), value)


class ClearCache(CommandBody):
    pass


class DataTransfer(CommandBody):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(default=None, max_length=50)
    data: Any = None


class GetConfiguration(CommandBody):
    keys: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("keys", "key"),
        description="Common names, 1.6 keys or 2.x Component.Variable; empty: everything.",
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class SetConfiguration(CommandBody):
    key: str = Field(min_length=1, max_length=200)
    value: str = Field(max_length=1000)

    @field_validator("value", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        """OCPP sends every value as text; a number or boolean is taken as its OCPP spelling."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int | float) else value


class VariableRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: str = Field(min_length=1, max_length=50)
    variable: str = Field(min_length=1, max_length=50)
    component_instance: str | None = Field(default=None, max_length=50)
    variable_instance: str | None = Field(default=None, max_length=50)
    evse_id: int | None = Field(default=None, ge=0)
    connector_id: int | None = Field(default=None, ge=0)
    attribute_type: Literal["Actual", "Target", "MinSet", "MaxSet"] | None = None


class VariableValue(VariableRef):
    value: str = Field(max_length=2500)


class GetVariables(CommandBody):
    variables: list[VariableRef] = Field(min_length=1)


class SetVariables(CommandBody):
    variables: list[VariableValue] = Field(min_length=1)


class GetBaseReport(CommandBody):
    report_base: Literal["configuration_inventory", "full_inventory", "summary_inventory"]


class GetReport(CommandBody):
    component_criteria: list[Literal["Active", "Available", "Enabled", "Problem"]] = Field(default_factory=list)
    variables: list[VariableRef] = Field(default_factory=list)


class Monitor(VariableRef):
    value: float
    type: Literal["UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"]
    severity: int = Field(ge=0, le=9)
    id: int | None = None
    transaction: bool | None = None


class SetVariableMonitoring(CommandBody):
    monitors: list[Monitor] = Field(min_length=1)


class ClearVariableMonitoring(CommandBody):
    ids: list[int] = Field(min_length=1)


class SetMonitoringBase(CommandBody):
    base: Literal["all", "factory_default", "hard_wired_only"]


class SetMonitoringLevel(CommandBody):
    severity: int = Field(ge=0, le=9)


class IdTokenRef(BaseModel):
    id_token: str = Field(min_length=1, max_length=36)
    type: str = Field(min_length=1, max_length=20)


class CustomerInformation(CommandBody):
    report: bool = True
    clear: bool = False
    customer_identifier: str | None = Field(default=None, max_length=64)
    id_token: IdTokenRef | None = None


class GetInstalledCertificates(CommandBody):
    # mypy: a Literal of a runtime tuple: pydantic reads it
    certificate_types: list[Literal[CERTIFICATE_TYPES]] = Field(default_factory=list)  # type: ignore[valid-type]


class Raw(CommandBody):
    action: str = Field(
        min_length=1, max_length=64, description="Any action the CSMS may send in the station's version."
    )
    payload: dict[str, Any] = Field(default_factory=dict)


BODIES: dict[str, type[CommandBody]] = {
    "reset": Reset,
    "unlock": Unlock,
    "availability": Availability,
    "trigger": Trigger,
    "clear-cache": ClearCache,
    "data-transfer": DataTransfer,
    "get-configuration": GetConfiguration,
    "set-configuration": SetConfiguration,
    "get-variables": GetVariables,
    "set-variables": SetVariables,
    "get-base-report": GetBaseReport,
    "get-report": GetReport,
    "set-variable-monitoring": SetVariableMonitoring,
    "clear-variable-monitoring": ClearVariableMonitoring,
    "set-monitoring-base": SetMonitoringBase,
    "set-monitoring-level": SetMonitoringLevel,
    "customer-information": CustomerInformation,
    "get-installed-certificates": GetInstalledCertificates,
    "raw": Raw,
}


class CommandOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "command_id": "cmd_01J9Z6",
                    "station_id": "CP-1",
                    "command": "reset",
                    "status": "Accepted",
                    "response": {"status": "Accepted"},
                    "detail": None,
                    "reboot_required": False,
                    "ocpp_version": "2.0.1",
                    "action": "Reset",
                    "request": {"type": "soft"},
                    "ocpp_payload": {"type": "OnIdle"},
                    "requested_by": "admin",
                    "bulk_id": None,
                    "created_at": "2026-11-20T10:00:00Z",
                    "sent_at": "2026-11-20T10:00:00Z",
                    "answered_at": "2026-11-20T10:00:01Z",
                }
            ]
        }
    )

    command_id: str
    station_id: str
    command: str
    status: str
    response: dict[str, Any] | None
    detail: str | None
    reboot_required: bool
    ocpp_version: str | None
    action: str | None
    request: dict[str, Any]
    ocpp_payload: dict[str, Any] | None
    requested_by: str
    bulk_id: str | None
    created_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None

    @classmethod
    def of(cls, r: CommandRecord) -> CommandOut:
        return cls(
            command_id=r.command_id,
            station_id=r.station_id,
            command=r.command,
            status=r.status,
            response=r.response,
            detail=r.detail,
            reboot_required=r.reboot_required,
            ocpp_version=r.ocpp_version,
            action=r.action,
            request=r.params,
            ocpp_payload=r.payload,
            requested_by=r.requested_by,
            bulk_id=r.bulk_id,
            created_at=r.created_at,
            sent_at=r.sent_at,
            answered_at=r.answered_at,
        )


class CommandList(BaseModel):
    items: list[CommandOut]
    next_offset: int | None = Field(default=None, description="Offset of the next page; null on the last one.")
