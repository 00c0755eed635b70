"""A station of each protocol version lives a full day, in fast-forward, against the running system.

Every service is its own process over real Kafka and PostgreSQL. The day: boot, status, hourly heartbeats,
a card session with meter values every 15 minutes, then an app session started and stopped remotely
(session service -> Kafka -> gateway -> station), and heartbeats to midnight. The session service must
end up with both sessions and their energy, the gateway must list the station, and the whole day must be
on the station's event stream in order.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from e2e_support import RunningSystem, next_command
from voltline_devinfra.waiting import eventually
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

DAY = datetime(2024, 5, 1, tzinfo=UTC)
PASSWORD = "a-station-password-42"


def at(hours: float) -> str:
    return (DAY + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


class Charger:
    """A station: calls the CSMS and answers its calls (RemoteStart/RequestStart... are Accepted)."""

    def __init__(self, socket: ClientConnection, version: str) -> None:
        self.socket, self.version = socket, version
        self.ids = itertools.count(1)
        self.pending: dict[str, asyncio.Future[list[Any]]] = {}
        self.commands: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = str(next(self.ids))
        future = self.pending[message_id] = asyncio.get_running_loop().create_future()
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        async with asyncio.timeout(30):
            answer = await future
        del self.pending[message_id]
        assert answer[0] == 3, (action, answer)
        return answer[2]  # type: ignore[no-any-return]

    async def command(self, *actions: str) -> tuple[str, dict[str, Any]]:
        """The next call the CSMS made of one of `actions`; others (the price shown on the display) are passed over."""
        return await next_command(self.commands, *actions)

    async def _read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if frame[0] == 2:  # the CSMS calls us: accept, and tell the test what was asked
                await self.socket.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                await self.commands.put((frame[2], frame[3]))
            elif frame[1] in self.pending:
                self.pending[frame[1]].set_result(frame)


@asynccontextmanager
async def charger(system: RunningSystem, station_id: str, version: str, password: str | None) -> AsyncIterator[Charger]:
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{station_id}:{password}".encode()).decode()
    for attempt in range(20):  # the registration may still be on its way to the gateway
        try:
            socket = await connect(
                f"{system.ocpp_url}/{station_id}",
                subprotocols=[version],  # type: ignore[list-item]
                additional_headers=headers,
            )
            break
        except InvalidStatus:
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)
    station = Charger(socket, version)
    try:
        yield station
    finally:
        station.reader.cancel()
        await socket.close()


def api(system: RunningSystem, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=system.url(service), headers=system.headers, timeout=60)


def readings(version: str, hours: float, wh: int, tx: Any) -> tuple[str, dict[str, Any]]:
    """A meter reading at `hours` into the day: 1.6 MeterValues, 2.x TransactionEvent(Updated)."""
    if version == "ocpp1.6":
        sample = {
            "timestamp": at(hours),
            "sampledValue": [{"value": str(wh), "unit": "Wh", "context": "Sample.Periodic"}],
        }
        return "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [sample]}
    sample = {"timestamp": at(hours), "sampledValue": [{"value": wh, "context": "Sample.Periodic"}]}
    return "TransactionEvent", {
        "eventType": "Updated", "timestamp": at(hours), "triggerReason": "MeterValuePeriodic", "seqNo": tx["seq"],
        "transactionInfo": {"transactionId": tx["id"], "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1}, "meterValue": [sample],
    }  # fmt: skip


async def stop(cp: Charger, hour: float, meter: int, tx: Any, reason: str) -> None:
    if cp.version == "ocpp1.6":
        stop_payload = {"transactionId": tx, "meterStop": meter, "timestamp": at(hour), "reason": reason}
        await cp.call("StopTransaction", stop_payload)
        await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        return
    ended = {
        "eventType": "Ended", "timestamp": at(hour),
        "triggerReason": "RemoteStop" if reason == "Remote" else "StopAuthorized",
        "seqNo": tx["seq"] + 1, "transactionInfo": {"transactionId": tx["id"], "stoppedReason": reason},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": at(hour), "sampledValue": [{"value": meter, "context": "Transaction.End"}]}],
    }  # fmt: skip
    await cp.call("TransactionEvent", ended)
    await cp.call(
        "StatusNotification", {"timestamp": at(hour), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    )


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_a_full_day_of_a_station(system: RunningSystem, version: str) -> None:
    suffix = version.replace("ocpp", "").replace(".", "")
    station_id, card = f"CP-DAY-{suffix}", f"CARD-{suffix}"
    password = PASSWORD if version == "ocpp1.6" else None  # 1.6 on security profile 1, 2.x on profile 0
    async with api(system, "auth") as auth, api(system, "session") as sessions, api(system, "gateway") as gateway:
        body: dict[str, Any] = {"station_id": station_id, **({"password": password} if password else {})}
        assert (await auth.post("/api/v1/stations", json=body)).status_code == 201
        assert (await auth.post("/api/v1/id-tokens", json={"id_token": card, "type": "ISO14443"})).status_code == 201

        async with charger(system, station_id, version, password) as cp:
            v16 = version == "ocpp1.6"
            boot = {"chargePointVendor": "ACME", "chargePointModel": "Day-1"} if v16 else {
                "reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Day-1"}}  # fmt: skip
            assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
            available = (
                {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
                if v16
                else {"timestamp": at(0), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
            )
            await cp.call("StatusNotification", available)
            for _ in range(8):  # the night: hourly heartbeats
                await cp.call("Heartbeat", {})

            # 08:00-10:00 a card session
            token = {"idTag": card} if v16 else {"idToken": {"idToken": card, "type": "ISO14443"}}
            answer = await cp.call("Authorize", token)
            assert (answer.get("idTagInfo") or answer.get("idTokenInfo"))["status"] == "Accepted"
            meter = 100_000
            card_tx = await _session(cp, 8, 10, card, meter, None)
            meter += 8 * 2750
            for _ in range(8):  # the afternoon
                await cp.call("Heartbeat", {})

            # 18:00 the driver starts from the app; 19:00 stops from the app
            started = await sessions.post(
                "/api/v1/remote-start",
                json={"station_id": station_id, "id_token": card, "id_token_type": "ISO14443", "connector_id": 1},
            )
            assert started.status_code == 200, started.text
            action, payload = await cp.command("RemoteStartTransaction", "RequestStartTransaction")
            assert action == ("RemoteStartTransaction" if v16 else "RequestStartTransaction")
            app_tx = await _session(cp, 18, 19, card, meter, payload.get("remoteStartId"), stop_reason=None)
            # The app session, by its transaction id: the card session's end may still be in flight.
            app_tx_id = str(app_tx if v16 else app_tx["id"])
            active = await eventually(lambda: _active_transaction(sessions, station_id, app_tx_id))
            stopped = await sessions.post(f"/api/v1/sessions/{active['session_id']}/remote-stop")
            assert stopped.status_code == 200, stopped.text
            action, payload = await cp.command("RemoteStopTransaction", "RequestStopTransaction")
            assert action == ("RemoteStopTransaction" if v16 else "RequestStopTransaction")
            await stop(cp, 19.05, meter + 4 * 2750, app_tx, "Remote")
            for _ in range(5):  # the evening
                await cp.call("Heartbeat", {})

            listed = (await gateway.get("/api/v1/connections", params={"station_id": station_id})).json()["items"]
            assert [(c["station_id"], c["ocpp_version"]) for c in listed] == [(station_id, version)]

        done = await eventually(lambda: _sessions(sessions, station_id, "completed", count=2))
        assert sorted(s["energy_wh"] for s in done) == [4 * 2750, 8 * 2750]
        assert {s["id_token"] for s in done} == {card}
        assert card_tx is not None
    await _check_stream(system, station_id)


async def _session(
    cp: Charger,
    start_h: float,
    end_h: float,
    token: str,
    meter: int,
    remote_id: int | None,
    stop_reason: str | None = "Local",
) -> Any:
    """Charge from start_h to end_h; stop locally unless stop_reason is None. The transaction handle."""
    v16 = cp.version == "ocpp1.6"
    if v16:
        started = await cp.call(
            "StartTransaction", {"connectorId": 1, "idTag": token, "meterStart": meter, "timestamp": at(start_h)}
        )
        assert started["idTagInfo"]["status"] == "Accepted"
        tx: Any = started["transactionId"]
        await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
    else:
        tx = {"id": f"TX-{secrets.token_hex(4)}", "seq": 0}
        info: dict[str, Any] = {"transactionId": tx["id"], "chargingState": "Charging"}
        if remote_id is not None:
            info["remoteStartId"] = remote_id
        start = {
            "eventType": "Started", "timestamp": at(start_h), "seqNo": 0, "transactionInfo": info,
            "triggerReason": "RemoteStart" if remote_id is not None else "Authorized",
            "idToken": {"idToken": token, "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {"timestamp": at(start_h), "sampledValue": [{"value": meter, "context": "Transaction.Begin"}]}
            ],
        }  # fmt: skip
        assert (await cp.call("TransactionEvent", start))["idTokenInfo"]["status"] == "Accepted"
        occupied = {"timestamp": at(start_h), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
        await cp.call("StatusNotification", occupied)
    for step in range(1, round((end_h - start_h) * 4) + 1):
        if not v16:
            tx["seq"] += 1
        action, payload = readings(cp.version, start_h + step / 4, meter + step * 2750, tx)
        await cp.call(action, payload)
    if stop_reason is not None:
        await stop(cp, end_h, meter + round((end_h - start_h) * 4) * 2750, tx, stop_reason)
    return tx


async def _sessions(client: httpx.AsyncClient, station_id: str, status: str, count: int = 1) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/sessions", params={"station_id": station_id, "status": status})
    items = response.json().get("items", []) if response.status_code == 200 else []
    return items if len(items) >= count else []


async def _active_transaction(client: httpx.AsyncClient, station_id: str, transaction_id: str) -> dict[str, Any] | None:
    response = await client.get("/api/v1/sessions", params={"station_id": station_id, "status": "active"})
    items = response.json().get("items", []) if response.status_code == 200 else []
    return next((s for s in items if s["transaction_id"] == transaction_id), None)


async def _check_stream(system: RunningSystem, station_id: str) -> None:
    """The day is on the station's stream, keyed by its id, in the order it happened."""
    consumer = AIOKafkaConsumer(
        f"{system.topic_prefix}voltline.station.events.v1",
        bootstrap_servers=system.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while not any(e["type"] == "station.disconnected" for e in seen):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        envelope = json.loads(record.value)
                        if envelope.get("station_id") == station_id:
                            assert record.key == station_id.encode()
                            seen.append(envelope)
    finally:
        await consumer.stop()
    types = [e["type"] for e in seen]
    assert types[:4] == [
        "station.connected",
        "station.boot_notification",
        "station.boot_answered",
        "station.connector_status",
    ]
    assert types.count("station.heartbeat") == 21 and types[-1] == "station.disconnected"
    kinds = [e["payload"]["kind"] for e in seen if e["type"] == "station.transaction"]
    assert kinds[0] == "started" and kinds.count("ended") == 2 and kinds[-1] == "ended"
