"""Responses of the live status, history, alert and webhook routes."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict
from voltline_chassis.schemas import ResponseModel, Timestamp

_CONNECTOR: JsonDict = {
    "evse_id": 1, "connector_id": 1, "status": "Faulted", "ocpp_status": "Faulted", "error_code": "GroundFailure",
    "since": "2026-11-20T10:00:00Z",
}  # fmt: skip


class ConnectorStatusOut(ResponseModel):
    evse_id: int | None
    connector_id: int | None
    status: str = Field(description="Available, Occupied, Reserved, Unavailable, Faulted or Unknown.")
    ocpp_status: str | None = Field(description="The status as the station reported it.")
    error_code: str | None = Field(description="As the station reported it; null when none.")
    vendor_error_code: str | None = None
    info: str | None = None
    since: Timestamp | None


class StationStatusOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1", "online": True, "health": "online", "since": "2026-11-20T08:00:00Z",
                    "last_seen_at": "2026-11-20T10:05:00Z", "ocpp_version": "2.0.1", "vendor": "Acme",
                    "model": "AC22", "firmware_version": "1.4.2", "station_status": None, "connectors": [_CONNECTOR],
                }
            ]
        }
    )  # fmt: skip

    station_id: str
    online: bool
    health: str = Field(description="online, offline or unresponsive")
    since: Timestamp | None
    last_seen_at: Timestamp | None
    unresponsive_since: Timestamp | None = None
    ocpp_version: str | None
    last_boot_at: Timestamp | None = None
    boot_reason: str | None = None
    heartbeat_interval_s: int | None = None
    vendor: str | None
    model: str | None
    firmware_version: str | None
    station_status: ConnectorStatusOut | None = Field(description="The station-wide status (connector 0), if any.")
    connectors: list[ConnectorStatusOut]


class FleetOut(ResponseModel):
    items: list[StationStatusOut]


class StatusIntervalOut(ResponseModel):
    model_config = ConfigDict(populate_by_name=True)

    evse_id: int | None
    connector_id: int | None
    from_: Timestamp = Field(alias="from")
    to: Timestamp | None = Field(description="null for the current interval")
    status: str
    ocpp_status: str | None
    error_code: str | None


class PresenceOut(ResponseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp = Field(alias="from")
    to: Timestamp | None
    online: bool


class HistoryOut(ResponseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1", "from": "2026-11-19T10:00:00Z", "to": "2026-11-20T10:00:00Z",
                    "items": [{"evse_id": 1, "connector_id": 1, "from": "2026-11-20T09:00:00Z", "to": None,
                               "status": "Available", "ocpp_status": "Available", "error_code": None}],
                    "presence": [{"from": "2026-11-19T10:00:00Z", "to": None, "online": True}],
                }
            ]
        },
    )  # fmt: skip

    station_id: str
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    items: list[StatusIntervalOut]
    presence: list[PresenceOut]


class AlertOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "alert_id": "0b6c…", "station_id": "CP-1", "evse_id": 1, "connector_id": 1, "subject": "CP-1/1/1",
                    "rule": "connector_faulted", "severity": "major", "status": "open",
                    "opened_at": "2026-11-20T10:00:00Z", "acknowledged_at": None, "acknowledged_by": None,
                    "resolved_at": None, "resolved_by": None, "note": None, "detail": {"error_code": "GroundFailure"},
                }
            ]
        }
    )  # fmt: skip

    alert_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    subject: str | None
    rule: str
    severity: str
    status: str = Field(description="open, acknowledged or resolved")
    opened_at: Timestamp
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    resolved_at: Timestamp | None
    resolved_by: str | None
    note: str | None
    detail: Any


class AlertRuleOut(ResponseModel):
    name: str
    severity: str
    enabled: bool
    after_s: float
    count: int
    window_s: float
    min_kwh: float
    doc: str


class WebhookOut(ResponseModel):
    """A subscription; the secret is never shown."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "webhook_id": "5f0e…", "url": "https://ops.example.com/hooks/voltline", "rules": [],
                    "severities": ["major", "critical"], "station_ids": [], "active": True,
                    "created_at": "2026-11-20T10:00:00Z", "created_by": "admin",
                }
            ]
        }
    )  # fmt: skip

    webhook_id: str
    url: str
    rules: list[str]
    severities: list[str]
    station_ids: list[str]
    active: bool
    created_at: Timestamp | None
    created_by: str | None


class DeliveryOut(ResponseModel):
    delivery_id: str
    event_type: str
    alert_id: str | None
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp | None
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None


class TestDeliveryOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"delivery_id": "9a1d…"}]})

    delivery_id: str
