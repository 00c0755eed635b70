"""What stations report about themselves, beyond status and transactions, as typed version-neutral events.

1.6 (including the security whitepaper's messages), 2.0.1 and 2.1 calls of the same meaning share one event:
firmware and log/diagnostics upload progress, security events, 2.x device-model events (NotifyEvent) and
reports (NotifyReport), data transfers and authorisation requests. Fields keep the station's own words
(status values, component and variable names); nothing is translated that a consumer might need verbatim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voltline_events.payloads.station import OcppVersion
from voltline_events.payloads.transactions import IdToken
from voltline_events.registry import Event, event


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


@event
class FirmwareStatus(Event):
    """1.6 FirmwareStatusNotification / SignedFirmwareStatusNotification, 2.x FirmwareStatusNotification."""

    TYPE = "station.firmware_status"
    VERSION = 1

    ocpp_version: OcppVersion
    status: str = Field(description="As sent, e.g. Downloading, Installed, InstallationFailed, InvalidSignature.")
    request_id: int | None = Field(default=None, description="The UpdateFirmware request it answers, when sent.")
    signed: bool = Field(default=False, description="1.6 SignedFirmwareStatusNotification; always signed in 2.x.")
    info: str | None = Field(default=None, description="2.x statusInfo.reasonCode.")


@event
class LogStatus(Event):
    """1.6 DiagnosticsStatusNotification and LogStatusNotification, 2.x LogStatusNotification."""

    TYPE = "station.log_status"
    VERSION = 1

    ocpp_version: OcppVersion
    kind: Literal["diagnostics", "log"] = Field(description="diagnostics: 1.6 GetDiagnostics; log: GetLog.")
    status: str = Field(description="As sent, e.g. Uploading, Uploaded, UploadFailed, PermissionDenied.")
    request_id: int | None = None
    info: str | None = Field(default=None, description="2.x statusInfo.reasonCode.")


@event
class SecurityEvent(Event):
    """SecurityEventNotification (1.6 security extension, 2.0.1, 2.1)."""

    TYPE = "station.security_event"
    VERSION = 1

    ocpp_version: OcppVersion
    event_type: str = Field(description="OCPP security event type, e.g. FirmwareUpdated, TamperDetectionActivated.")
    timestamp: datetime = Field(description="By the station's clock.")
    tech_info: str | None = None


class ComponentRef(_Part):
    name: str
    instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None


class VariableRef(_Part):
    name: str
    instance: str | None = None


class DeviceEvent(_Part):
    """One entry of a NotifyEvent's eventData."""

    event_id: int
    timestamp: datetime
    trigger: str = Field(description="Alerting, Delta or Periodic.")
    actual_value: str
    component: ComponentRef
    variable: VariableRef
    event_notification_type: str = Field(description="HardWiredNotification, PreconfiguredMonitor, ...")
    cause: int | None = None
    tech_code: str | None = None
    tech_info: str | None = None
    cleared: bool = False
    transaction_id: str | None = None
    variable_monitoring_id: int | None = None
    severity: int | None = Field(default=None, description="2.1 only: the monitor's severity (0 = Danger).")


@event
class DeviceEvents(Event):
    """NotifyEvent (2.0.1, 2.1): problems and changes the station's device model noticed."""

    TYPE = "station.notify_event"
    VERSION = 1

    ocpp_version: OcppVersion
    generated_at: datetime
    seq_no: int
    tbc: bool = Field(default=False, description="To be continued: more parts of this notification follow.")
    events: list[DeviceEvent]


class VariableAttribute(_Part):
    type: str = "Actual"
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None


class VariableCharacteristics(_Part):
    data_type: str
    supports_monitoring: bool
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None


class ReportItem(_Part):
    component: ComponentRef
    variable: VariableRef
    attributes: list[VariableAttribute]
    characteristics: VariableCharacteristics | None = None


@event
class DeviceReport(Event):
    """NotifyReport (2.0.1, 2.1): one part of a device-model report asked for by GetBaseReport/GetReport."""

    TYPE = "station.notify_report"
    VERSION = 1

    ocpp_version: OcppVersion
    request_id: int
    generated_at: datetime
    seq_no: int
    tbc: bool = False
    items: list[ReportItem] = Field(default_factory=list)


@event
class DataTransfer(Event):
    """DataTransfer from a station (any version)."""

    TYPE = "station.data_transfer"
    VERSION = 1

    ocpp_version: OcppVersion
    vendor_id: str
    data_message_id: str | None = Field(default=None, description="OCPP's messageId field of the DataTransfer.")
    data: Any = None


@event
class AuthorizeRequested(Event):
    """A station's Authorize call (any version); the decision itself travels on the auth request topic."""

    TYPE = "station.authorize"
    VERSION = 1

    ocpp_version: OcppVersion
    id_token: IdToken
