"""The messages of the realistic mix: what a charging station sends while it charges, per protocol version.

Per station and cycle of 10 calls: 6 MeterValues / TransactionEvent(Updated) with ten sampled values
(about 1 KB each), 2 StatusNotification, 2 Heartbeat.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import orjson

_MEASURANDS = [
    ("Energy.Active.Import.Register", "Wh", None),
    ("Power.Active.Import", "W", "L1"),
    ("Power.Active.Import", "W", "L2"),
    ("Power.Active.Import", "W", "L3"),
    ("Current.Import", "A", "L1"),
    ("Current.Import", "A", "L2"),
    ("Current.Import", "A", "L3"),
    ("Voltage", "V", "L1-N"),
    ("Voltage", "V", "L2-N"),
    ("Voltage", "V", "L3-N"),
]
TIMESTAMP = "2024-05-01T08:00:00.000Z"


def _sampled_16(i: int) -> list[dict[str, Any]]:
    out = []
    for n, (measurand, unit, phase) in enumerate(_MEASURANDS):
        value: dict[str, Any] = {
            "value": str(1000 + i + n),
            "context": "Sample.Periodic",
            "measurand": measurand,
            "unit": unit,
        }
        if phase:
            value["phase"] = phase
        out.append(value)
    return out


def _sampled_2x(i: int) -> list[dict[str, Any]]:
    out = []
    for n, (measurand, unit, phase) in enumerate(_MEASURANDS):
        value: dict[str, Any] = {
            "value": 1000.5 + i + n,
            "context": "Sample.Periodic",
            "measurand": measurand,
            "unitOfMeasure": {"unit": unit},
        }
        if phase:
            value["phase"] = phase
        out.append(value)
    return out


def calls(version: str) -> list[tuple[str, dict[str, Any]]]:
    if version == "ocpp1.6":
        meter = [
            (
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": 4242,
                    "meterValue": [{"timestamp": TIMESTAMP, "sampledValue": _sampled_16(i)}],
                },
            )
            for i in range(6)
        ]
        status = (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": TIMESTAMP},
        )
    else:
        meter = [
            (
                "TransactionEvent",
                {
                    "eventType": "Updated",
                    "timestamp": TIMESTAMP,
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": i + 1,
                    "transactionInfo": {"transactionId": "TX-4242", "chargingState": "Charging"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [{"timestamp": TIMESTAMP, "sampledValue": _sampled_2x(i)}],
                },
            )
            for i in range(6)
        ]
        status = (
            "StatusNotification",
            {"timestamp": TIMESTAMP, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        )
    heartbeat = ("Heartbeat", {})
    return [meter[0], meter[1], status, meter[2], heartbeat, meter[3], meter[4], status, meter[5], heartbeat]


def frames(version: str) -> Iterator[bytes]:
    """The station's frames forever, each with a fresh message id."""
    ids = itertools.count()
    for action, payload in itertools.cycle(calls(version)):
        yield orjson.dumps([2, str(next(ids)), action, payload])


def boot(version: str) -> dict[str, Any]:
    if version == "ocpp1.6":
        return {"chargePointVendor": "Bench", "chargePointModel": "Sim-1"}
    return {"reason": "PowerUp", "chargingStation": {"vendorName": "Bench", "model": "Sim-1"}}


def authorize(version: str, token: str) -> dict[str, Any]:
    if version == "ocpp1.6":
        return {"idTag": token}
    return {"idToken": {"idToken": token, "type": "ISO14443"}}
