"""The live rows of a station and of a connector, as the status repository reads and writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class StationRow:
    station_id: str
    online: bool
    since: datetime
    last_seen_at: datetime
    ocpp_version: str | None = None
    heartbeat_interval_s: int | None = None
    unresponsive: bool = False
    unresponsive_since: datetime | None = None
    last_boot_at: datetime | None = None
    boot_reason: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    modem: dict[str, Any] | None = None
    meter: dict[str, Any] | None = None
    report_requested_at: datetime | None = None
    boot_status: str | None = None  # Accepted, Pending, Rejected: what the station was answered at its last boot
    authorized_at: datetime | None = None  # an accepted Authorize not followed by a transaction yet
    unused_authorizations: int = 0  # accepted authorisations in a row that never became a transaction


@dataclass
class ConnectorRow:
    station_id: str
    evse_id: int
    connector_id: int
    ocpp_status: str
    status: str
    since: datetime
    reported_at: datetime
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None
    short_sessions: int = 0


STATION_FIELDS = tuple(StationRow.__dataclass_fields__)
CONNECTOR_FIELDS = tuple(ConnectorRow.__dataclass_fields__)


def station_row(row: Any) -> StationRow:
    return StationRow(**{k: row._mapping[k] for k in STATION_FIELDS})


def connector_row(row: Any) -> ConnectorRow:
    return ConnectorRow(**{k: row._mapping[k] for k in CONNECTOR_FIELDS})
