"""OCPP payloads of every version turned into voltline's version-neutral events (no I/O).

The payloads reaching these functions have passed schema validation, so required fields are present and
typed; optional ones are read with .get(). The events of the busiest actions (readings, transactions,
statuses) are `Prepared`: the event's payload as plain data in the shape of its model, serialised without
building the model, because validating what the schema has validated already cost more than the rest of the
call. The tests validate every published event against its model (tests/conftest.py), so the contract holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voltline_events import Event
from voltline_events.payloads.transactions import (
    ConnectorStatus,
    IdToken,
    StationMeterValues,
    StationTransaction,
)

from voltline_gateway.domain.ocpp_j import OCPP16

_KIND_2X = {"Started": "started", "Updated": "updated", "Ended": "ended"}
_ENERGY = "Energy.Active.Import.Register"


@dataclass(frozen=True, slots=True)
class Prepared:
    """An event of type `model`, as the JSON-ready payload its model would dump (None values left out)."""

    model: type[Event]
    payload: dict[str, Any]

    @property
    def TYPE(self) -> str:
        return self.model.TYPE

    @property
    def VERSION(self) -> int:
        return self.model.VERSION

    def event(self) -> Event:
        """The validated model (for tests and for consumers in this process, never on the hot path)."""
        return self.model.model_validate(self.payload)


def _clean(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _int(value: Any) -> int | None:
    """2.x schemas are draft 6, where 1.0 is a valid integer: events carry ints."""
    return None if value is None else int(value)


def _number(value: Any) -> str:
    """2.x sends readings as JSON numbers; events carry them as decimal strings."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


_OPTIONAL_16 = ("unit", "context", "phase", "location", "format")
_OPTIONAL_2X = ("context", "phase", "location")


def samples_16(meter_values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for mv in meter_values:
        values = []
        for sv in mv["sampledValue"]:
            value = {"value": sv["value"], "measurand": sv.get("measurand", _ENERGY)}
            for key in _OPTIONAL_16:
                if key in sv:
                    value[key] = sv[key]
            values.append(value)
        out.append({"timestamp": mv["timestamp"], "values": values})
    return out


def samples_2x(meter_values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for mv in meter_values:
        values = []
        for sv in mv["sampledValue"]:
            unit = sv.get("unitOfMeasure") or {}
            value = {
                "value": _number(sv["value"]),
                "measurand": sv.get("measurand", _ENERGY),
                "unit": unit.get("unit", "Wh"),
            }
            if "multiplier" in unit:
                value["multiplier"] = int(unit["multiplier"])
            for key in _OPTIONAL_2X:
                if key in sv:
                    value[key] = sv[key]
            if "signedMeterValue" in sv:
                value["signed"] = True
            values.append(value)
        out.append({"timestamp": mv["timestamp"], "values": values})
    return out


def start_transaction_16(payload: dict[str, Any], transaction_id: int) -> StationTransaction:
    return StationTransaction(
        ocpp_version=OCPP16,
        kind="started",
        transaction_id=str(transaction_id),
        timestamp=payload["timestamp"],
        evse_id=payload["connectorId"],
        connector_id=payload["connectorId"],
        id_token=IdToken(id_token=payload["idTag"]),
        meter_start_wh=payload["meterStart"],
        raw=payload,
    )


def stop_transaction_16(payload: dict[str, Any]) -> StationTransaction:
    id_tag = payload.get("idTag")
    return StationTransaction(
        ocpp_version=OCPP16,
        kind="ended",
        transaction_id=str(payload["transactionId"]),
        timestamp=payload["timestamp"],
        id_token=IdToken(id_token=id_tag) if id_tag else None,
        stop_reason=payload.get("reason", "Local"),  # 1.6: the reason may be left out only when it is Local
        meter_stop_wh=payload["meterStop"],
        meter_values=samples_16(payload.get("transactionData", [])),
        raw=payload,
    )


def meter_values(ocpp_version: str, payload: dict[str, Any]) -> Prepared:
    """1.6 readings of a transaction become a transaction update; every other reading a meter values event."""
    if ocpp_version == OCPP16:
        samples = samples_16(payload["meterValue"])
        connector = payload["connectorId"]
        if payload.get("transactionId") is not None:
            return Prepared(
                StationTransaction,
                {
                    "ocpp_version": OCPP16,
                    "kind": "updated",
                    "transaction_id": str(payload["transactionId"]),
                    "timestamp": _latest(samples),
                    "evse_id": connector,
                    "connector_id": connector,
                    "meter_values": samples,
                },
            )
        return Prepared(
            StationMeterValues,
            {"ocpp_version": OCPP16, "evse_id": connector, "connector_id": connector, "meter_values": samples},
        )
    payload_2x = {
        "ocpp_version": ocpp_version,
        "evse_id": _int(payload["evseId"]),
        "meter_values": samples_2x(payload["meterValue"]),
    }
    return Prepared(StationMeterValues, payload_2x)


def _latest(samples: list[dict[str, Any]]) -> str:
    """The newest reading's timestamp, as the station wrote it."""
    latest: str = max((s["timestamp"] for s in samples), key=datetime.fromisoformat)
    return latest


def transaction_event(ocpp_version: str, payload: dict[str, Any]) -> Prepared:
    info = payload["transactionInfo"]
    evse = payload.get("evse") or {}
    token = payload.get("idToken")
    return Prepared(
        StationTransaction,
        _clean(
            ocpp_version=ocpp_version,
            kind=_KIND_2X[payload["eventType"]],
            transaction_id=info["transactionId"],
            timestamp=payload["timestamp"],
            evse_id=_int(evse.get("id")),
            connector_id=_int(evse.get("connectorId")),
            id_token={"id_token": token["idToken"], "type": token["type"]} if token else None,
            seq_no=_int(payload["seqNo"]),
            trigger_reason=payload["triggerReason"],
            offline=payload.get("offline", False),
            charging_state=info.get("chargingState"),
            stop_reason=info.get("stoppedReason"),
            remote_start_id=_int(info.get("remoteStartId")),
            meter_values=samples_2x(payload.get("meterValue", [])),
            raw=payload,
        ),
    )


def connector_status(ocpp_version: str, payload: dict[str, Any]) -> Prepared:
    if ocpp_version == OCPP16:
        fields = _clean(
            ocpp_version=OCPP16,
            timestamp=payload.get("timestamp"),
            evse_id=payload["connectorId"],
            connector_id=payload["connectorId"],
            status=payload["status"],
            error_code=payload["errorCode"],
            info=payload.get("info"),
            vendor_error_code=payload.get("vendorErrorCode"),
        )
    else:
        fields = {
            "ocpp_version": ocpp_version,
            "timestamp": payload["timestamp"],
            "evse_id": _int(payload["evseId"]),
            "connector_id": _int(payload["connectorId"]),
            "status": payload["connectorStatus"],
        }
    return Prepared(ConnectorStatus, fields)
