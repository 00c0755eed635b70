"""Many stations behaving the way real ones do, against a running system: the ledger must stay right.

Every station (alternately OCPP 1.6 and 2.0.1) boots and then:
1. charges a card session with decimal readings, stops with a whole-Wh meterStop, and sends one more reading
   just after the end (1.6: MeterValues one second after StopTransaction; 2.0.1: an Updated after Ended);
   2.0.1 stations report EVConnected while the register already grows, and Charging only later;
2. starts a session and crashes: the connection drops, the station reboots having forgotten the transaction;
   every other station starts a new session on the same connector, the rest leave it to voltline's checks
   (2.0.1 answers GetTransactionStatus "not ongoing"; 1.6 accepts TriggerMessage and sends nothing);
3. starts a transaction on connector 2 with a card the CSMS refuses, and never stops it.
The 2.0.1 stations send the card as ISO14443 although it is registered as Local.

Afterwards `settle` counts sessions, stale actives (still active although no station charges) and
session/CDR energy mismatches. Used by tests-e2e/test_fleet_ledger.py (a few stations) and bench/sessions
(hundreds).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

OCPP16, OCPP201 = "ocpp1.6", "ocpp2.0.1"
BEGIN, END = "Transaction.Begin", "Transaction.End"


def stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Figures:
    stations: int = 0
    sessions: int = 0
    active: int = 0
    completed_without_cdr: int = 0
    mismatches: int = 0
    energy_wh: int = 0
    meter_anomalies: int = 0  # sessions flagged for a rounding step (must be 0: rounding is not an anomaly)
    idle_s: int = 0  # parking time billed (must be 0: every station here delivers energy until it stops)
    endings: dict[str, int] = field(default_factory=dict)

    @property
    def stale_active(self) -> int:
        return self.active

    def as_dict(self) -> dict[str, Any]:
        return {
            "stations": self.stations,
            "sessions": self.sessions,
            "stale_active": self.stale_active,
            "completed_without_cdr": self.completed_without_cdr,
            "mismatches": self.mismatches,
            "energy_wh": self.energy_wh,
            "meter_anomalies": self.meter_anomalies,
            "idle_s": self.idle_s,
            "endings": dict(sorted(self.endings.items())),
        }


class Station:
    """One simulated charger: calls the CSMS and answers its calls as a real one would."""

    def __init__(self, url: str, station_id: str, version: str) -> None:
        self.url, self.station_id, self.version = url, station_id, version
        self.ids = itertools.count(1)
        self.pending: dict[str, asyncio.Future[list[Any]]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}  # what the station itself knows is running
        self.socket: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        # The station's clock: the scenario runs in fast-forward over the last three hours.
        self.now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)

    def tick(self, minutes: float) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now

    async def connect(self) -> None:
        for attempt in range(60):  # the registration may still be on its way to the gateway
            try:
                self.socket = await connect(f"{self.url}/{self.station_id}", subprotocols=[self.version])  # type: ignore[list-item]
                break
            except (InvalidStatus, OSError):
                if attempt == 59:
                    raise
                await asyncio.sleep(0.5)
        self.reader = asyncio.create_task(self._read())

    async def crash(self) -> None:
        """The connection drops and the station reboots, forgetting its transactions."""
        assert self.socket is not None and self.reader is not None
        self.reader.cancel()
        self.socket.transport.abort()
        self.transactions.clear()
        await self.connect()

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.socket is not None:
            await self.socket.close()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.socket is not None
        message_id = str(next(self.ids))
        future = self.pending[message_id] = asyncio.get_running_loop().create_future()
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        async with asyncio.timeout(60):
            answer = await future
        del self.pending[message_id]
        assert answer[0] == 3, (self.station_id, action, answer)
        return answer[2]  # type: ignore[no-any-return]

    async def _read(self) -> None:
        assert self.socket is not None
        async for text in self.socket:
            frame = json.loads(text)
            if frame[0] == 2:
                await self.socket.send(json.dumps([3, frame[1], self._answer(frame[2], frame[3])]))
            elif frame[1] in self.pending:
                self.pending[frame[1]].set_result(frame)

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetTransactionStatus":
            known = payload.get("transactionId") in self.transactions
            return {"ongoingIndicator": known, "messagesInQueue": False}
        if action in ("RemoteStopTransaction", "RequestStopTransaction"):
            known = str(payload.get("transactionId")) in self.transactions
            return {"status": "Accepted" if known else "Rejected"}
        return {"status": "Accepted"}  # TriggerMessage and the rest (nothing is sent for a lost transaction)

    # --- what the station says ---

    async def boot(self) -> None:
        if self.version == OCPP16:
            boot: dict[str, Any] = {"chargePointVendor": "Fleet", "chargePointModel": "Sim"}
        else:
            boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "Fleet", "model": "Sim"}}
        assert (await self.call("BootNotification", boot))["status"] == "Accepted"
        for connector in (1, 2):
            await self.status(connector, "Available")

    async def status(self, connector: int, status: str) -> None:
        if self.version == OCPP16:
            payload = {"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": stamp(self.now)}
            await self.call("StatusNotification", payload)
        else:
            payload = {"timestamp": stamp(self.now), "connectorStatus": status, "evseId": connector, "connectorId": 1}
            await self.call("StatusNotification", payload)

    async def start(self, connector: int, card: str, meter_wh: int, state: str = "Charging") -> tuple[str, str]:
        """Start a transaction; (transaction id, the CSMS's answer to the card)."""
        if self.version == OCPP16:
            payload = {"connectorId": connector, "idTag": card, "meterStart": meter_wh, "timestamp": stamp(self.now)}
            answer = await self.call("StartTransaction", payload)
            tx_id, status = str(answer["transactionId"]), answer["idTagInfo"]["status"]
            self.transactions[tx_id] = {"seq": 0, "connector": connector}
            return tx_id, status
        tx_id = f"{self.station_id}-{next(self.ids)}"
        self.transactions[tx_id] = {"seq": 0, "connector": connector}
        event = {
            "eventType": "Started", "timestamp": stamp(self.now), "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": tx_id, "chargingState": state},
            "idToken": {"idToken": card, "type": "ISO14443"}, "evse": {"id": connector, "connectorId": 1},
            "meterValue": [{"timestamp": stamp(self.now), "sampledValue": [{"value": meter_wh, "context": BEGIN}]}],
        }  # fmt: skip
        answer = await self.call("TransactionEvent", event)
        return tx_id, answer["idTokenInfo"]["status"]

    async def reading(self, tx_id: str, value: str, state: str | None = None, at: datetime | None = None) -> None:
        number: str | float = value if self.version == OCPP16 else float(value)  # 1.6 sends strings, 2.x numbers
        sample = {"timestamp": stamp(at or self.now), "sampledValue": [{"value": number}]}
        tx = self.transactions.get(tx_id) or {"seq": 99, "connector": 1}
        if self.version == OCPP16:
            payload = {"connectorId": tx["connector"], "transactionId": int(tx_id), "meterValue": [sample]}
            await self.call("MeterValues", payload)
            return
        tx["seq"] += 1
        info: dict[str, Any] = {"transactionId": tx_id}
        if state:
            info["chargingState"] = state
        event = {
            "eventType": "Updated", "timestamp": stamp(at or self.now), "triggerReason": "MeterValuePeriodic",
            "seqNo": tx["seq"],
            "transactionInfo": info, "meterValue": [sample],
        }  # fmt: skip
        await self.call("TransactionEvent", event)

    async def stop(self, tx_id: str, meter_wh: int, at: datetime) -> None:
        tx = self.transactions.pop(tx_id)
        if self.version == OCPP16:
            at_ = stamp(at or self.now)
            payload = {"transactionId": int(tx_id), "meterStop": meter_wh, "timestamp": at_, "reason": "Local"}
            await self.call("StopTransaction", payload)
            self.transactions[tx_id + ":gone"] = tx  # keeps the connector for the late reading
            return
        tx["seq"] += 1
        event = {
            "eventType": "Ended", "timestamp": stamp(at or self.now), "triggerReason": "EVCommunicationLost",
            "seqNo": tx["seq"],
            "transactionInfo": {"transactionId": tx_id, "stoppedReason": "EVDisconnected", "chargingState": "Idle"},
            "meterValue": [{"timestamp": stamp(at or self.now), "sampledValue": [{"value": meter_wh, "context": END}]}],
        }  # fmt: skip
        await self.call("TransactionEvent", event)
        self.transactions[tx_id + ":gone"] = tx


async def run_station(url: str, station_id: str, version: str, card: str, refused: str, reuse: bool) -> None:
    """The scenario of the module docstring for one station."""
    station = Station(url, station_id, version)
    await station.connect()
    try:
        await station.boot()
        meter = 100_000
        # 1. a card session; a late reading after the end; 2.0.1: EVConnected while energy flows
        tx, answer = await station.start(1, card, meter, state="EVConnected")
        assert answer == "Accepted", (station_id, answer)
        station.tick(10)
        await station.reading(tx, f"{meter + 1_500}.25")
        station.tick(10)
        await station.reading(tx, f"{meter + 3_125}.39", state="Charging")
        end = station.tick(5)
        await station.stop(tx, meter + 3_125, end)  # whole Wh, just below the last decimal reading
        late = end + (timedelta(seconds=1) if version == OCPP16 else timedelta(milliseconds=1))
        if version == OCPP16:
            gone = station.transactions[tx + ":gone"]
            sample = {"timestamp": stamp(late), "sampledValue": [{"value": str(meter + 4_200)}]}
            await station.call(
                "MeterValues", {"connectorId": gone["connector"], "transactionId": int(tx), "meterValue": [sample]}
            )
        else:
            station.transactions[tx] = station.transactions.pop(tx + ":gone")
            await station.reading(tx, str(meter + 4_200), at=late)
            station.transactions.pop(tx)
        station.tick(1)
        await station.status(1, "Available")
        meter += 4_200
        # 2. a session interrupted by a crash and a reboot
        station.tick(10)
        tx, answer = await station.start(1, card, meter)
        station.tick(10)
        await station.reading(tx, str(meter + 800))
        meter += 800
        station.tick(10)
        await station.crash()
        await station.boot()
        if reuse:
            station.tick(5)
            tx, answer = await station.start(1, card, meter + 10)
            station.tick(10)
            await station.reading(tx, str(meter + 1_000))
            await station.stop(tx, meter + 1_500, station.tick(10))
            await station.status(1, "Available")
        # 3. a start the CSMS refuses; this station never stops it
        station.tick(5)
        _, answer = await station.start(2, refused, 0)
        assert answer != "Accepted", (station_id, answer)
    finally:
        await station.close()


async def prepare(
    auth: httpx.AsyncClient, billing: httpx.AsyncClient, stations: list[str], cards: dict[str, str]
) -> None:
    """Register the stations and cards (2.0.1 cards as Local) and a default tariff with an idle fee."""
    tariff = {
        "tariff_id": "FLEET", "currency": "EUR", "energy_price_per_kwh": "0.40", "idle_price_per_hour": "6.00",
        "default": True,
    }  # fmt: skip
    created = await billing.post("/api/v1/tariffs", json=tariff)
    assert created.status_code in (201, 409), created.text
    semaphore = asyncio.Semaphore(20)

    async def one(station_id: str) -> None:
        async with semaphore:
            response = await auth.post("/api/v1/stations", json={"station_id": station_id})
            assert response.status_code in (201, 409), response.text
            token_type = "ISO14443" if station_id.endswith("-16") else "Local"
            body = {"id_token": cards[station_id], "type": token_type}
            response = await auth.post("/api/v1/id-tokens", json=body)
            assert response.status_code in (201, 409), response.text

    await asyncio.gather(*(one(s) for s in stations))


async def _all(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page (the paging convention: next_offset until null)."""
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        response = await client.get(path, params={**params, "limit": 1000, "offset": offset})
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        offset = page["next_offset"]
    return items


async def measure(session: httpx.AsyncClient, billing: httpx.AsyncClient, prefix: str) -> Figures:
    sessions = [s for s in await _all(session, "/api/v1/sessions") if s["station_id"].startswith(prefix)]
    cdrs = {c["session_id"]: c for c in await _all(billing, "/api/v1/cdrs")}
    figures = Figures(stations=len({s["station_id"] for s in sessions}), sessions=len(sessions))
    for s in sessions:
        if s["status"] == "active":
            figures.active += 1
            continue
        figures.energy_wh += s["energy_wh"]
        reason = f"{s['ended_by'] or 'station'}:{s['stop_reason']}"
        figures.endings[reason] = figures.endings.get(reason, 0) + 1
        if {"meter_outlier_ignored", "meter_went_backwards"} & set(s["anomalies"]):
            figures.meter_anomalies += 1
        cdr = cdrs.get(s["session_id"])
        if cdr is not None:
            figures.idle_s += int(cdr["idle_s"])
        if cdr is None:
            figures.completed_without_cdr += 1
        elif Decimal(cdr["energy_kwh"]) * 1000 != s["energy_wh"]:
            figures.mismatches += 1
    return figures


async def settle(
    session: httpx.AsyncClient, billing: httpx.AsyncClient, prefix: str, expected: int, within: float
) -> Figures:
    """Wait until every expected session ended and was billed (or `within` seconds passed); the figures then."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        figures = await measure(session, billing, prefix)
        done = figures.sessions >= expected and figures.active == 0 and figures.completed_without_cdr == 0
        if done or asyncio.get_running_loop().time() > deadline:
            return figures
        await asyncio.sleep(1)


def plan(count: int, prefix: str) -> list[tuple[str, str, str, str, bool]]:
    """(station id, version, card, refused card, reuse) for `count` stations; half 1.6, half 2.0.1."""
    out = []
    for n in range(count):
        version = OCPP16 if n % 2 == 0 else OCPP201
        station_id = f"{prefix}{n:04d}-{'16' if version == OCPP16 else '201'}"
        out.append((station_id, version, f"CARD{n:04d}", f"NOPE{n:04d}", n % 4 < 2))
    return out


def expected_energy_wh(count: int) -> int:
    """The card session (3 125 Wh, whatever came after its end), the crashed one up to its last reading (800),
    the reused connector's (1 490); the refused start delivers nothing."""
    return sum(3_125 + 800 + (1_490 if reuse else 0) for *_, reuse in plan(count, ""))


def expected_sessions(count: int) -> int:
    """Per station: the card session, the crashed one, the refused start, and the reused connector's (half)."""
    return sum(4 if reuse else 3 for *_, reuse in plan(count, ""))
