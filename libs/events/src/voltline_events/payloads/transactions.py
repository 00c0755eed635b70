"""What stations say about charging, normalised across OCPP versions by the gateway.

1.6 StartTransaction / MeterValues(transactionId) / StopTransaction and 2.0.1/2.1 TransactionEvent all
become `station.transaction` events, so the session service never parses OCPP. The gateway keeps the
station's own timestamps and sequence numbers; ordering and deduplication are the session service's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voltline_events.payloads.station import OcppVersion
from voltline_events.registry import Event, event

TransactionKind = Literal["started", "updated", "ended"]


class SampledValue(BaseModel):
    """One meter reading, with the unit as the station sent it (Wh or kWh are not converted here)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    value: str = Field(description="Decimal as a string, exactly as sent.")
    measurand: str = "Energy.Active.Import.Register"
    unit: str | None = None
    context: str | None = None
    phase: str | None = None
    location: str | None = None
    multiplier: int | None = Field(
        default=None, description="2.x unitOfMeasure.multiplier: the reading is value x 10^multiplier."
    )
    format: str | None = Field(default=None, description="1.6 Raw or SignedData (then value is not a decimal).")
    signed: bool = Field(default=False, description="The station also sent a signed meter value (2.x).")


class MeterSample(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    timestamp: datetime
    values: list[SampledValue]


class IdToken(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id_token: str = Field(max_length=255)
    type: str = Field(default="ISO14443", description="OCPP 2.0.1 IdTokenType; 1.6 idTags are reported as ISO14443.")


@event
class StationTransaction(Event):
    """A transaction message from a station (any version), normalised."""

    TYPE = "station.transaction"
    VERSION = 1

    ocpp_version: OcppVersion
    kind: TransactionKind
    transaction_id: str = Field(description="2.x: the station's id; 1.6: the id the gateway assigned.")
    timestamp: datetime = Field(description="When it happened, by the station's clock.")
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: IdToken | None = None
    driver_id: str | None = Field(
        default=None,
        description="The driver the auth service has for id_token (ADR 0024); absent when none or not known.",
    )
    seq_no: int | None = Field(default=None, description="2.x seqNo; absent in 1.6.")
    trigger_reason: str | None = None
    offline: bool = False
    charging_state: str | None = Field(default=None, description="2.x chargingState (Charging, SuspendedEV, ...).")
    stop_reason: str | None = None
    remote_start_id: int | None = None
    meter_start_wh: int | None = Field(default=None, description="1.6 StartTransaction meterStart.")
    meter_stop_wh: int | None = Field(default=None, description="1.6 StopTransaction meterStop.")
    meter_values: list[MeterSample] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict, description="The original OCPP payload.")


@event
class ConnectorStatus(Event):
    """StatusNotification (any version), normalised."""

    TYPE = "station.connector_status"
    VERSION = 1

    ocpp_version: OcppVersion
    timestamp: datetime | None = None
    evse_id: int | None = Field(default=None, description="2.x evseId; 1.6 has connectors only (evse = connector).")
    connector_id: int
    status: str = Field(description="As sent: 1.6 ChargePointStatus or 2.x ConnectorStatusEnum.")
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None


@event
class StationMeterValues(Event):
    """MeterValues outside a transaction (1.6 without transactionId, and every 2.x MeterValues), normalised."""

    TYPE = "station.meter_values"
    VERSION = 1

    ocpp_version: OcppVersion
    evse_id: int | None = Field(default=None, description="2.x evseId (0: the main meter); 1.6 connectorId.")
    connector_id: int | None = None
    meter_values: list[MeterSample]
