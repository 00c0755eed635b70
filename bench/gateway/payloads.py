"""The messages of the realistic mix: what a charging station sends while it charges, per protocol version.

Per station and cycle of 10 calls: 6 MeterValues / TransactionEvent(Updated) with ten sampled values
(about 1 KB each), 2 StatusNotification, 2 Heartbeat. `calls()` is the fixed mix (one timestamp, no
transaction); `StationFeed` is what a real station sends: a transaction first, then that mix with its clock's
timestamps, a rising energy register and rising seqNo.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
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


TOKEN = "BENCH-0"  # an idToken the e2e harness provisions in the auth service (provision_tokens)
WH_PER_METER = 25  # the energy register's rise per meter message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StationFeed:
    """One station's frames as a real station sends them: StartTransaction (1.6, then the transactionId the
    CSMS answered) or TransactionEvent Started (2.x, its own transactionId), then the mix of `calls()` with
    the station's clock, a rising energy register and seqNo. The payloads are built once; per message only
    the timestamp, the register and seqNo change before one orjson.dumps (a few µs)."""

    def __init__(self, version: str, station: str) -> None:
        self.version = version
        self.cycle = copy.deepcopy(calls(version))
        self.ids = itertools.count()
        self.position = 0
        self.energy = 0
        self.seq = 0
        self.transaction: int | str | None = None
        self.started = False
        if version != "ocpp1.6":  # 2.x: the station names the transaction (unique per run and station)
            self.transaction = f"{station}-{datetime.now(UTC):%H%M%S%f}"

    def __iter__(self) -> StationFeed:
        return self

    def __next__(self) -> bytes:
        now = _now()
        if not self.started:
            self.started = True
            return self._dumps(*self._start(now))
        action, payload = self.cycle[self.position]
        self.position = (self.position + 1) % len(self.cycle)
        if "timestamp" in payload:
            payload["timestamp"] = now
        if "meterValue" in payload:
            self.energy += WH_PER_METER
            sample = payload["meterValue"][0]
            sample["timestamp"] = now
            register = sample["sampledValue"][0]
            if self.version == "ocpp1.6":
                payload["transactionId"] = self.transaction
                register["value"] = str(self.energy)
            else:
                self.seq += 1
                payload["seqNo"] = self.seq
                payload["transactionInfo"]["transactionId"] = self.transaction
                register["value"] = float(self.energy)
        return self._dumps(action, payload)

    def answered(self, answer: list[Any]) -> None:
        """The CSMS's answer to the last frame: a 1.6 StartTransaction's carries the transactionId."""
        if self.transaction is None:  # the first answer only (an echo or a CallError: transaction 0)
            self.transaction = answer[2].get("transactionId", 0) if answer[0] == 3 else 0

    def _start(self, now: str) -> tuple[str, dict[str, Any]]:
        if self.version == "ocpp1.6":
            return "StartTransaction", {"connectorId": 1, "idTag": TOKEN, "meterStart": 0, "timestamp": now}
        return "TransactionEvent", {
            "eventType": "Started",
            "timestamp": now,
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": self.transaction, "chargingState": "Charging"},
            "idToken": {"idToken": TOKEN, "type": "ISO14443"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": now,
                    "sampledValue": [{"value": 0.0, "measurand": "Energy.Active.Import.Register"}],
                }
            ],
        }

    def _dumps(self, action: str, payload: dict[str, Any]) -> bytes:
        return orjson.dumps([2, str(next(self.ids)), action, payload])


_MARK = "@@{}@@"


class TemplateFeed(StationFeed):
    """StationFeed's frames, byte for byte, without a JSON dump per message: each frame of the cycle is dumped
    once with markers where the message id, the clock, the register and seqNo go, and split there; a message is
    the pieces joined with its values (bench/gateway/test_frames.py checks them against StationFeed's)."""

    def __init__(self, version: str, station: str) -> None:
        super().__init__(version, station)
        self._templates: list[tuple[list[bytes], tuple[str, ...]]] | None = None

    def __next__(self) -> bytes:
        if not self.started or self.transaction is None:
            return super().__next__()  # the start (and a 1.6 station's frames before its transactionId)
        if self._templates is None:
            self._templates = [self._template(action, payload) for action, payload in self.cycle]
        pieces, names = self._templates[self.position]
        self.position = (self.position + 1) % len(self._templates)
        values = {"id": str(next(self.ids)).encode(), "ts": now_bytes()}
        if "en" in names:
            self.energy += WH_PER_METER
            if self.version == "ocpp1.6":
                values["en"] = str(self.energy).encode()
            else:
                self.seq += 1
                values["en"], values["sq"] = orjson.dumps(float(self.energy)), str(self.seq).encode()
        out = [pieces[0]]
        for name, piece in zip(names, pieces[1:], strict=True):
            out += (values[name], piece)
        return b"".join(out)

    def _template(self, action: str, payload: dict[str, Any]) -> tuple[list[bytes], tuple[str, ...]]:
        marked = copy.deepcopy(payload)
        if "timestamp" in marked:
            marked["timestamp"] = _MARK.format("ts")
        if "meterValue" in marked:
            sample = marked["meterValue"][0]
            sample["timestamp"] = _MARK.format("ts")
            sample["sampledValue"][0]["value"] = _MARK.format("en")
            if self.version == "ocpp1.6":
                marked["transactionId"] = self.transaction
            else:
                marked["seqNo"] = _MARK.format("sq")
                marked["transactionInfo"]["transactionId"] = self.transaction
        text = orjson.dumps([2, _MARK.format("id"), action, marked])
        pieces, names = [b""], []
        for chunk in text.split(b"@@"):
            name = chunk.decode()
            if name in ("id", "ts", "en", "sq"):
                names.append(name)
                pieces.append(b"")
            else:
                pieces[-1] += chunk
        # A 1.6 register is a JSON string (its marker stays in quotes); a 2.x register and seqNo are numbers.
        for k, name in enumerate(names):
            if name == "sq" or (name == "en" and self.version != "ocpp1.6"):
                pieces[k] = pieces[k].removesuffix(b'"')
                pieces[k + 1] = pieces[k + 1].removeprefix(b'"')
        return pieces, tuple(names)


_now_ms = -1
_now_text = b""


def now_bytes() -> bytes:
    """`_now()` encoded, made once per millisecond (its resolution)."""
    global _now_ms, _now_text
    ms = time.time_ns() // 1_000_000
    if ms != _now_ms:
        moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
        _now_ms, _now_text = ms, moment.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()
    return _now_text
