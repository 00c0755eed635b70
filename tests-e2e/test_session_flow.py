"""Sessions end to end: real OCPP stations through the gateway, the auth service and the session service.

Every service runs as its own process over real Kafka and PostgreSQL (see conftest.py). A 1.6 station
charges by card; a 2.0.1 station charges from the app (remote start and stop through the gateway); a
remote start for an offline station fails at once, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from e2e_support import RunningSystem, next_command
from ocpp_client import station
from test_session_support import eventually

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}
ENERGY = "Energy.Active.Import.Register"
_ids = itertools.count(1)


class Charger:
    """An OCPP-J station that also answers the CSMS's calls (per `answers`, else NotImplemented)."""

    def __init__(self, socket: Any, answers: dict[str, dict[str, Any]] | None = None) -> None:
        self.socket, self.answers = socket, answers or {}
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if frame[0] == 2:  # a call from the CSMS
                _, message_id, action, payload = frame
                answer = self.answers.get(action)
                reply = [3, message_id, answer] if answer is not None else [4, message_id, "NotImplemented", "", {}]
                await self.socket.send(json.dumps(reply))
                await self.received.put((action, payload))
            elif frame[1] in self._pending:
                self._pending.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = f"m{next(_ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        frame = await asyncio.wait_for(future, 30)
        assert frame[0] == 3, frame
        return frame[2]  # type: ignore[no-any-return]

    async def expect(self, action: str) -> dict[str, Any]:
        return (await next_command(self.received, action))[1]

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def api(system: RunningSystem, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{system.url(service)}/api/v1", headers=system.headers, timeout=30)


async def session_of(sessions: httpx.AsyncClient, station_id: str, ready: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        items = (await sessions.get("/sessions", params={"station_id": station_id})).json()["items"]
        return items[0] if items and ready(items[0]) else None

    return await eventually(check, what=f"the session of {station_id}")


async def known_connected(sessions: httpx.AsyncClient, station_id: str, connected: bool = True) -> None:
    async def check() -> bool:
        response = await sessions.get(f"/station-presence/{station_id}")
        return response.status_code == 200 and response.json()["connected"] is connected

    await eventually(check, what=f"the session service to see {station_id} connected={connected}")


async def test_16_card_session_through_the_gateway(system: RunningSystem) -> None:
    async with api(system, "auth") as auth, api(system, "session") as sessions:
        assert (await auth.post("/stations", json={"station_id": "CP-E2E-16"})).status_code == 201
        driver = (await auth.post("/drivers", json={"name": "Ada", "email": "ada@example.com"})).json()
        token = {"id_token": "CARD16E2E", "type": "ISO14443", "driver_id": driver["driver_id"]}
        assert (await auth.post("/id-tokens", json=token)).status_code == 201
        start = datetime.now(UTC) - timedelta(minutes=40)
        async with station(system.ocpp_url, "CP-E2E-16") as ws:
            cp = Charger(ws)
            assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": rfc3339(start)}
            await cp.call("StatusNotification", status)
            started = await cp.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": "CARD16E2E", "meterStart": 1_000, "timestamp": rfc3339(start)},
            )
            assert started["idTagInfo"]["status"] == "Accepted"
            tx_id = started["transactionId"]
            sample = {"value": "2.5", "unit": "kWh", "measurand": ENERGY, "context": "Sample.Periodic"}
            reading = {"timestamp": rfc3339(start + timedelta(minutes=15)), "sampledValue": [sample]}
            await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [reading]})
            stop = {"transactionId": tx_id, "meterStop": 4_500, "timestamp": rfc3339(start + timedelta(minutes=30))}
            await cp.call("StopTransaction", {**stop, "reason": "EVDisconnected"})
            await cp.close()
        session = await session_of(sessions, "CP-E2E-16", lambda s: s["status"] == "completed")
        assert (session["energy_wh"], session["meter_start_wh"], session["meter_stop_wh"]) == (3_500, 1_000, 4_500)
        assert (session["id_token"], session["transaction_id"], session["stop_reason"]) == (
            "CARD16E2E",
            str(tx_id),
            "EVDisconnected",
        )


async def test_201_app_session_remote_start_and_stop(system: RunningSystem) -> None:
    async with api(system, "auth") as auth, api(system, "session") as sessions:
        assert (await auth.post("/stations", json={"station_id": "CP-E2E-201"})).status_code == 201
        driver = (await auth.post("/drivers", json={"name": "Bo", "email": "bo@example.com"})).json()
        app_token = {"id_token": "APPE2E201", "type": "Central", "driver_id": driver["driver_id"]}
        assert (await auth.post("/id-tokens", json=app_token)).status_code == 201
        answers = {"RequestStartTransaction": {"status": "Accepted"}, "RequestStopTransaction": {"status": "Accepted"}}
        async with station(system.ocpp_url, "CP-E2E-201", "ocpp2.0.1") as ws:
            cp = Charger(ws, answers)
            assert (await cp.call("BootNotification", BOOT_201))["status"] == "Accepted"
            await known_connected(sessions, "CP-E2E-201")

            request = asyncio.create_task(
                sessions.post("/remote-start", json={"station_id": "CP-E2E-201", "id_token": "APPE2E201", "evse_id": 1})
            )
            command = await cp.expect("RequestStartTransaction")
            assert command["idToken"] == {"idToken": "APPE2E201", "type": "Central"} and command["evseId"] == 1
            response = await request
            assert response.status_code == 200 and response.json()["status"] == "Accepted", response.text
            begin = datetime.now(UTC)
            await cp.call("TransactionEvent", event_201("Started", 0, begin, "RemoteStart", command, 10_000))

            session = await session_of(sessions, "CP-E2E-201", lambda s: s["driver_id"] is not None)
            assert (session["remote_start_id"], session["driver_id"]) == (
                command["remoteStartId"],
                driver["driver_id"],
            )
            stop = asyncio.create_task(sessions.post(f"/sessions/{session['session_id']}/remote-stop"))
            assert (await cp.expect("RequestStopTransaction"))["transactionId"] == "E2E-TX-201"
            assert (await stop).status_code == 200
            end = begin + timedelta(minutes=45)
            await cp.call("TransactionEvent", event_201("Ended", 1, end, "RemoteStop", command, 14_321))
            await cp.close()
        done = await session_of(sessions, "CP-E2E-201", lambda s: s["status"] == "completed")
        assert (done["energy_wh"], done["stop_reason"]) == (4_321, "Remote")


def event_201(kind: str, seq: int, at: datetime, trigger: str, command: dict[str, Any], wh: int) -> dict[str, Any]:
    context = "Transaction.Begin" if kind == "Started" else "Transaction.End"
    info: dict[str, Any] = {"transactionId": "E2E-TX-201", "remoteStartId": command["remoteStartId"]}
    if kind == "Ended":
        info["stoppedReason"] = "Remote"
    value = {"value": wh, "measurand": ENERGY, "context": context, "unitOfMeasure": {"unit": "Wh"}}
    return {
        "eventType": kind,
        "timestamp": rfc3339(at),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": info,
        "evse": {"id": 1, "connectorId": 1},
        "idToken": command["idToken"],
        "meterValue": [{"timestamp": rfc3339(at), "sampledValue": [value]}],
    }


async def test_remote_start_against_an_offline_station_says_so(system: RunningSystem) -> None:
    async with api(system, "auth") as auth, api(system, "session") as sessions:
        assert (await auth.post("/stations", json={"station_id": "CP-E2E-GONE"})).status_code == 201
        assert (await auth.post("/id-tokens", json={"id_token": "GONE-1", "type": "Central"})).status_code == 201
        async with station(system.ocpp_url, "CP-E2E-GONE") as ws:
            cp = Charger(ws)
            assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
            await known_connected(sessions, "CP-E2E-GONE")
            await cp.close()
        await known_connected(sessions, "CP-E2E-GONE", connected=False)
        response = await sessions.post("/remote-start", json={"station_id": "CP-E2E-GONE", "id_token": "GONE-1"})
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "station_offline" and "offline" in response.json()["detail"]
