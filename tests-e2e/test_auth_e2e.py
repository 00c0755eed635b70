"""Station passwords and id-token decisions end to end: OCPP stations, the gateway, Kafka and the auth service.

Every service runs as its own process over real Kafka and PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, next_command, start_system
from ocpp_client import Station, station
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "Volt-22"}}


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """The gateway waits long for auth: every boot here expects auth's answer, not the fallback (Pending) that a
    5 s wait gave on a machine at load 20-30."""
    gateway = {"VOLTLINE_AUTH_TIMEOUT_S": "60"}
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("system"), extra_env={"gateway": gateway})


def api(system: RunningSystem, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, f"{system.url('auth')}/api/v1{path}", headers=system.headers, timeout=60, **kwargs)
    assert response.status_code < 300, response.text
    return response


async def auth_sees_connected(system: RunningSystem, station_id: str) -> None:
    """Station events reach the auth service in batches: it learns of a connection up to ~100 ms after the boot."""
    for _ in range(100):
        found = await asyncio.to_thread(api, system, "GET", f"/stations/{station_id}")
        if (found.json()["sync"] or {}).get("connected"):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the auth service never saw {station_id} connected")


def basic(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def boots(system: RunningSystem, station_id: str, password: str, protocol: str) -> bool:
    """Can the station connect with this password and boot Accepted?"""
    try:
        async with station(system.ocpp_url, station_id, protocol, additional_headers=basic(station_id, password)) as ws:
            answer = await Station(ws).call("BootNotification", BOOT_16 if protocol == "ocpp1.6" else BOOT_201)
            return bool(answer[2]["status"] == "Accepted")
    except InvalidStatus as refused:
        assert refused.response.status_code == 401
        return False


async def answer_configuration(ws: ClientConnection, received: list[dict[str, Any]]) -> None:
    """Play the station's part of a password change: accept it, as a station does. Other calls (diagnostics'
    inventory after the first boot: GetConfiguration, GetBaseReport) come whenever that service gets to them, under
    load in the middle of the rotation: they are answered as `Station` answers them, and not collected."""
    while True:
        message = json.loads(await ws.recv())
        if message[0] != 2:
            continue
        _, message_id, action, payload = message
        if action not in ("ChangeConfiguration", "SetVariables"):
            await ws.send(json.dumps([3, message_id, {"status": "Accepted"}]))
            continue
        received.append({"action": action, **payload})
        if action == "ChangeConfiguration":
            answer: dict[str, Any] = {"status": "Accepted"}
        else:
            data = payload["setVariableData"][0]
            answer = {
                "setVariableResult": [
                    {"attributeStatus": "Accepted", **{k: data[k] for k in ("component", "variable")}}
                ]
            }
        await ws.send(json.dumps([3, message_id, answer]))


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_wrong_passwords_are_refused_and_rotation_switches_over(system: RunningSystem, protocol: str) -> None:
    station_id, old = f"CP-PW-{protocol[-3:]}", "the-first-password-123"
    api(system, "POST", "/stations", json={"station_id": station_id, "password": old})
    assert not await boots(system, station_id, "a-wrong-password-0000", protocol)
    assert await boots(system, station_id, old, protocol)

    received: list[dict[str, Any]] = []
    async with station(system.ocpp_url, station_id, protocol, additional_headers=basic(station_id, old)) as ws:
        await Station(ws).call("BootNotification", BOOT_16 if protocol == "ocpp1.6" else BOOT_201)
        await auth_sees_connected(system, station_id)
        answering = asyncio.create_task(answer_configuration(ws, received))
        try:
            rotated = await asyncio.to_thread(api, system, "POST", f"/stations/{station_id}/password-rotation", json={})
        finally:
            answering.cancel()
    assert rotated.json()["station_answer"] == "Accepted"
    [change] = received
    new = change["value"] if protocol == "ocpp1.6" else change["setVariableData"][0]["attributeValue"]
    assert new not in rotated.text

    for _ in range(150):  # the gateway learns the new hash from the registry topic
        if not await boots(system, station_id, old, protocol):
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("the old password still works")
    assert await boots(system, station_id, new, protocol)


async def test_authorize_answers_per_protocol(system: RunningSystem) -> None:
    driver = api(system, "POST", "/drivers", json={"name": "E2E", "email": "e2e@example.com", "language": "en"})
    driver_id = driver.json()["driver_id"]
    api(
        system,
        "POST",
        "/id-tokens",
        json={"id_token": "E2E-OK", "type": "ISO14443", "driver_id": driver_id, "group_id": "E2E-G"},
    )
    api(system, "POST", "/id-tokens", json={"id_token": "E2E-BLOCKED", "type": "ISO14443", "status": "Blocked"})
    for station_id in ("CP-AUTH-16", "CP-AUTH-201"):
        api(system, "POST", "/stations", json={"station_id": station_id})

    async with station(system.ocpp_url, "CP-AUTH-16") as ws:
        cp = Station(ws)
        assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"
        ok = await cp.call("Authorize", {"idTag": "e2e-ok"})
        assert ok[2] == {"idTagInfo": {"status": "Accepted", "parentIdTag": "E2E-G"}}
        assert (await cp.call("Authorize", {"idTag": "E2E-BLOCKED"}))[2] == {"idTagInfo": {"status": "Blocked"}}
        assert (await cp.call("Authorize", {"idTag": "E2E-NOBODY"}))[2] == {"idTagInfo": {"status": "Invalid"}}

    async with station(system.ocpp_url, "CP-AUTH-201", "ocpp2.0.1") as ws:
        cp = Station(ws)
        assert (await cp.call("BootNotification", BOOT_201))[2]["status"] == "Accepted"
        ok = await cp.call("Authorize", {"idToken": {"idToken": "E2E-OK", "type": "ISO14443"}})
        assert ok[2]["idTokenInfo"] == {
            "status": "Accepted",
            "groupIdToken": {"idToken": "E2E-G", "type": "Central"},
            "language1": "en",
        }
        unknown = await cp.call("Authorize", {"idToken": {"idToken": "E2E-NOBODY", "type": "ISO14443"}})
        assert unknown[2]["idTokenInfo"] == {"status": "Unknown"}

    api(system, "PATCH", "/id-tokens/E2E-OK", json={"status": "Blocked"})
    async with station(system.ocpp_url, "CP-AUTH-16") as ws:
        cp = Station(ws)
        await cp.call("BootNotification", BOOT_16)
        assert (await cp.call("Authorize", {"idTag": "E2E-OK"}))[2]["idTagInfo"]["status"] == "Blocked"


def local_answers(system: RunningSystem) -> float:
    """Authorize answers the gateway gave from auth's published decisions (ADR 0015), from its metrics."""
    text = httpx.get(f"{system.url('gateway')}/metrics", timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("voltline_gateway_decision_seconds_count{") and 'outcome="local"' in line
    )


async def test_a_card_blocked_by_an_operator_is_refused_by_the_gateway_within_a_second(system: RunningSystem) -> None:
    api(system, "POST", "/id-tokens", json={"id_token": "E2E-REVOKE", "type": "ISO14443"})
    api(system, "POST", "/stations", json={"station_id": "CP-REVOKE"})
    async with station(system.ocpp_url, "CP-REVOKE") as ws:
        cp = Station(ws)
        assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"

        async def status() -> str:
            return str((await cp.call("Authorize", {"idTag": "E2E-REVOKE"}))[2]["idTagInfo"]["status"])

        before = await asyncio.to_thread(local_answers, system)
        assert await status() == "Accepted"
        for _ in range(100):  # the gateway reads the published decision: it stops asking auth
            if await asyncio.to_thread(local_answers, system) > before:
                break
            assert await status() == "Accepted"
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the gateway never answered from the published decisions")

        # The API answers once the new decision is on the broker; the gateway applies it well within a second.
        await asyncio.to_thread(api, system, "PATCH", "/id-tokens/E2E-REVOKE", json={"status": "Blocked"})
        blocked_at = asyncio.get_running_loop().time()
        while await status() != "Blocked":
            assert asyncio.get_running_loop().time() - blocked_at < 1.0, "still Accepted a second after the block"


class ListKeepingStation:
    """A 1.6 station that keeps the local list it is sent, clears its cache when told, and charges."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._ids = iter(range(1, 1_000_000))
        self._reader = asyncio.create_task(self._read())

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetLocalListVersion":
            return {"listVersion": self.list_version}
        if action == "SendLocalList":
            if payload["updateType"] == "Full":
                self.local_list = {}
            for item in payload.get("localAuthorizationList", []):
                if "idTagInfo" in item:
                    self.local_list[item["idTag"]] = item["idTagInfo"]
                else:
                    self.local_list.pop(item["idTag"], None)
            self.list_version = payload["listVersion"]
        return {"status": "Accepted"}  # SendLocalList, ClearCache

    async def _read(self) -> None:
        async for text in self.ws:
            frame = json.loads(text)
            if frame[0] == 2:
                _, message_id, action, payload = frame
                await self.ws.send(json.dumps([3, message_id, self._answer(action, payload)]))
                await self.received.put((action, payload))
            elif frame[1] in self._pending:
                self._pending.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = f"m{next(self._ids)}"
        self._pending[message_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps([2, message_id, action, payload]))
        frame = await asyncio.wait_for(self._pending[message_id], 30)
        return frame[2]  # type: ignore[no-any-return]

    async def expect(self, action: str) -> dict[str, Any]:
        return (await next_command(self.received, action, within=60))[1]


async def test_token_blocked_while_a_session_runs(system: RunningSystem) -> None:
    """The station's cache is cleared and its local list updated; the token is refused from then on."""
    driver = api(system, "POST", "/drivers", json={"name": "Blk", "email": "blk@example.com"}).json()
    api(
        system,
        "POST",
        "/id-tokens",
        json={"id_token": "CARD-BLK", "type": "ISO14443", "driver_id": driver["driver_id"]},
    )
    api(system, "POST", "/local-lists", json={"list_id": "L-E2E"})
    api(system, "PUT", "/local-lists/L-E2E/entries/CARD-BLK")
    api(system, "POST", "/stations", json={"station_id": "CP-BLOCK", "local_list": "L-E2E"})

    async with station(system.ocpp_url, "CP-BLOCK") as ws:
        cp = ListKeepingStation(ws)
        assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
        full = await cp.expect("SendLocalList")  # auth installs the station's list after the boot
        assert full["updateType"] == "Full" and cp.local_list == {"CARD-BLK": {"status": "Accepted"}}
        started = await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "CARD-BLK", "meterStart": 0, "timestamp": "2026-11-21T10:00:00Z"},
        )
        assert started["idTagInfo"]["status"] == "Accepted"

        async with httpx.AsyncClient(base_url=system.url("session"), headers=system.headers) as sessions:
            for _ in range(150):  # the session service has seen the transaction start
                query = {"station_id": "CP-BLOCK", "status": "active"}
                if (await sessions.get("/api/v1/sessions", params=query)).json()["items"]:
                    break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("the session service never reported the session")

        await asyncio.to_thread(api, system, "PATCH", "/id-tokens/CARD-BLK", json={"status": "Blocked"})
        await cp.expect("ClearCache")
        differential = await cp.expect("SendLocalList")
        assert differential["updateType"] == "Differential"
        assert cp.local_list == {"CARD-BLK": {"status": "Blocked"}}
        assert (await cp.call("Authorize", {"idTag": "CARD-BLK"}))["idTagInfo"]["status"] == "Blocked"
