"""Responses of the inventory and uptime routes."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from voltline_chassis.schemas import ResponseModel, Timestamp

Number = int | float


class InventoryOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1", "ocpp_version": "2.0.1", "vendor": "Acme", "model": "AC22",
                    "serial_number": "SN-0042", "firmware_version": "1.4.2", "modem": None, "meter": None,
                    "last_boot_at": "2026-11-20T08:00:00Z", "boot_reason": "PowerUp", "device_model_variables": 312,
                }
            ]
        }
    )  # fmt: skip

    station_id: str
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    modem: Any
    meter: Any
    last_boot_at: Timestamp | None
    boot_reason: str | None
    device_model_variables: int | None = Field(description="Variables reported; null in fleet lists.")


class ModelCountOut(ResponseModel):
    vendor: str | None
    model: str | None
    stations: int


class FirmwareCountOut(ModelCountOut):
    firmware_version: str | None


class RefreshOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"action": "GetBaseReport", "outcome": "answered", "status": "Accepted"}]}
    )

    action: str = Field(description="GetBaseReport (2.x) or GetConfiguration (1.6)")
    outcome: str
    status: str | None = None
    error: Any = None


class VariableOut(ResponseModel):
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attribute_type: str | None
    value: str | None
    mutability: str | None
    data_type: str | None
    unit: str | None
    source: str | None
    updated_at: Timestamp | None


class OutageOut(ResponseModel):
    model_config = ConfigDict(populate_by_name=True)

    station_id: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    reasons: list[str]
    excluded_s: Number


class ExclusionOut(ResponseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "exclusion_id": "3c2f…", "station_id": "CP-1", "evse_id": None, "connector_id": None,
                    "from": "2026-11-20T02:00:00Z", "to": "2026-11-20T04:00:00Z", "reason": "planned_maintenance",
                    "note": "firmware update", "created_by": "admin",
                }
            ]
        },
    )  # fmt: skip

    exclusion_id: str
    station_id: str | None = None
    evse_id: int | None
    connector_id: int | None
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    reason: str
    note: str | None
    created_by: str | None = None


class UptimeOut(ResponseModel):
    """One station's uptime (with `ports` and `exclusions`) or, without station_id, the network's (`stations`)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1", "method": "nevi", "from": "2026-10-21T00:00:00Z",
                    "to": "2026-11-20T00:00:00Z", "uptime_percent": 99.2, "period_s": 2592000, "outage_s": 20736,
                    "excluded_s": 0, "target_percent": 97.0, "meets_target": True, "outages": [], "ports": [],
                    "exclusions": [],
                }
            ]
        },
    )  # fmt: skip

    station_id: str | None
    method: str = Field(description="nevi or uk")
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    uptime_percent: Number | None
    period_s: Number
    outage_s: Number
    excluded_s: Number
    target_percent: Number
    meets_target: bool
    outages: list[OutageOut]
    ports: list[dict[str, Any]] | None = None
    exclusions: list[ExclusionOut] | None = None
    stations: list[dict[str, Any]] | None = None
