"""Firmware campaigns end to end over 20 simulated stations (1.6 and 2.0.1) through the gateway.

Each station downloads the image from the diagnostics service (a range request first), reports its
progress with FirmwareStatusNotification and boots again with the new version, or reports a failure.
A campaign whose second batch fails halts at the threshold; a clean one completes with every station
reporting the new version.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem
from maintenance_support import SimStation, client, register
from ocpp_client import station
from voltline_devinfra.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATIONS = [f"CP-FW-{i:02d}" for i in range(20)]
IMAGE = os.urandom(50_000)


class Fleet:
    """20 stations that install what they are sent, except those listed in `failing`."""

    def __init__(self) -> None:
        self.stations: dict[str, SimStation] = {}
        self.failing: set[str] = set()
        self.updates: dict[str, list[dict[str, Any]]] = {s: [] for s in STATIONS}
        self.tasks: set[asyncio.Task[None]] = set()

    def version_of(self, station_id: str) -> str:
        return "ocpp2.0.1" if station_id[-2:].isdigit() and int(station_id[-2:]) % 2 else "ocpp1.6"

    def answer(self, station_id: str) -> Any:
        def on_update(payload: dict[str, Any]) -> dict[str, Any]:
            self.updates[station_id].append(payload)
            task = asyncio.get_running_loop().create_task(self.install(station_id, payload))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return {} if self.version_of(station_id) == "ocpp1.6" else {"status": "Accepted"}

        return on_update

    async def install(self, station_id: str, payload: dict[str, Any]) -> None:
        cp = self.stations[station_id]
        two = cp.version != "ocpp1.6"
        location = payload["firmware"]["location"] if two else payload["location"]
        extra = {"requestId": payload["requestId"]} if two else {}

        async def status(value: str) -> None:
            await cp.call("FirmwareStatusNotification", {"status": value, **extra})

        await status("Downloading")
        async with httpx.AsyncClient(timeout=30) as http:
            head = await http.get(location, headers={"Range": "bytes=0-99"})
            assert head.status_code == 206 and head.content == IMAGE[:100]
            image = (await http.get(location)).content
        assert hashlib.sha256(image).digest() == hashlib.sha256(IMAGE).digest()
        await status("Downloaded")
        await status("Installing")
        if station_id in self.failing:
            await status("InstallationFailed")
            return
        await status("Installed")
        version = location.rsplit("/", 2)[-2].removeprefix("fw-")
        await cp.boot(firmware=version, model="FW-22")


@contextlib.asynccontextmanager
async def fleet_online(system: RunningSystem) -> AsyncIterator[Fleet]:
    fleet = Fleet()
    async with contextlib.AsyncExitStack() as stack:
        for station_id in STATIONS:
            version = fleet.version_of(station_id)
            ws = await stack.enter_async_context(station(system.ocpp_url, station_id, version))
            cp = SimStation(ws, version, {"UpdateFirmware": fleet.answer(station_id)})
            stack.push_async_callback(cp.close)
            fleet.stations[station_id] = cp
            await cp.boot(firmware="1.0.0", model="FW-22")
        yield fleet
        for task in list(fleet.tasks):
            task.cancel()


async def add_firmware(api: httpx.AsyncClient, version: str) -> None:
    body = {"firmware_id": f"fw-{version}", "version": version, "vendor": "ACME", "model": "FW-22"}
    assert (await api.post("/firmware", json=body)).status_code == 201
    response = await api.put(f"/firmware/fw-{version}/file", params={"file_name": "image.bin"}, content=IMAGE)
    assert response.status_code == 200 and response.json()["sha256"] == hashlib.sha256(IMAGE).hexdigest()


async def campaign_state(api: httpx.AsyncClient, campaign_id: str, done: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        found.update((await api.get(f"/firmware-campaigns/{campaign_id}")).json())
        return bool(done(found))

    await eventually(check, within=90)
    return found


async def test_a_failing_batch_halts_the_campaign_and_a_clean_one_completes(system: RunningSystem) -> None:
    await register(system, *STATIONS)
    async with fleet_online(system) as fleet, client(system, "diagnostics") as api:

        async def all_known() -> bool:
            items = (await api.get("/station-firmware", params={"model": "FW-22"})).json()["items"]
            return len(items) == len(STATIONS)

        await eventually(all_known)
        await add_firmware(api, "1.1.0")
        # Stations sorted by id: canary CP-FW-00..01, batch 1 CP-FW-02..07 (all fail), then 08..13, 14..19.
        fleet.failing = set(STATIONS[2:8])
        body = {
            "firmware_id": "fw-1.1.0",
            "stations": STATIONS,
            "canary_size": 2,
            "batch_size": 6,
            "failure_threshold_percent": "30",
            "station_timeout_s": 60,
        }
        created = await api.post("/firmware-campaigns", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["progress"] == {"pending": 20}
        halted = await campaign_state(
            api,
            created.json()["campaign_id"],
            lambda c: c["status"] == "halted" and c["progress"].get("failed", 0) == 6,
        )
        assert halted["progress"] == {"succeeded": 2, "failed": 6, "pending": 12}, halted["progress"]
        assert "halted" in halted["reason"]
        by_station = {s["station_id"]: s for s in halted["stations"]}
        assert by_station["CP-FW-03"]["reason"] == "InstallationFailed"
        assert all(not fleet.updates[s] for s in STATIONS[8:]), "no station after the failing batch was updated"
        one_six, two = fleet.updates["CP-FW-00"][0], fleet.updates["CP-FW-01"][0]
        assert one_six["location"].endswith("/firmware/fw-1.1.0/image.bin") and "retrieveDate" in one_six
        assert two["firmware"]["location"] == one_six["location"] and "requestId" in two

        cancelled = await api.post(f"/firmware-campaigns/{created.json()['campaign_id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["progress"]["cancelled"] == 12

        await add_firmware(api, "2.0.0")
        fleet.failing = set()
        body = {"firmware_id": "fw-2.0.0", "canary_size": 2, "batch_size": 9, "station_timeout_s": 60}
        clean = await api.post("/firmware-campaigns", json=body)  # by model: every FW-22 not on 2.0.0
        assert clean.status_code == 201 and clean.json()["progress"] == {"pending": 20}, clean.text
        done = await campaign_state(api, clean.json()["campaign_id"], lambda c: c["status"] == "completed")
        assert done["progress"] == {"succeeded": 20}
        assert sorted({s["batch"] for s in done["stations"]}) == [0, 1, 2]

        async def all_new() -> bool:
            items = (await api.get("/station-firmware", params={"firmware_version": "2.0.0"})).json()["items"]
            return len(items) == len(STATIONS)

        await eventually(all_new)


async def test_a_charging_station_is_updated_once_idle(system: RunningSystem) -> None:
    await register(system, "CP-FW-CHG")
    fleet = Fleet()
    async with station(system.ocpp_url, "CP-FW-CHG", "ocpp1.6") as ws, client(system, "diagnostics") as api:
        cp = SimStation(ws, "ocpp1.6", {"UpdateFirmware": fleet.answer("CP-FW-CHG")})
        fleet.stations["CP-FW-CHG"] = cp
        fleet.updates["CP-FW-CHG"] = []
        await cp.boot(firmware="1.0.0", model="FW-22")
        charging = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        await cp.call("StatusNotification", charging)

        async def seen_charging() -> bool:
            items = (await api.get("/station-firmware", params={"model": "FW-22"})).json()["items"]
            return any(i["station_id"] == "CP-FW-CHG" and i["connectors"] == {"1": "Charging"} for i in items)

        await eventually(seen_charging)
        if (await api.get("/firmware")).json()["items"] == []:
            await add_firmware(api, "2.0.0")
        body = {"firmware_id": "fw-2.0.0", "stations": ["CP-FW-CHG"], "station_timeout_s": 60}
        created = (await api.post("/firmware-campaigns", json=body)).json()
        deferred = await campaign_state(api, created["campaign_id"], lambda c: c["stations"][0]["state"] == "deferred")
        assert deferred["stations"][0]["reason"] == "charging" and not fleet.updates["CP-FW-CHG"]
        campaign = f"/firmware-campaigns/{created['campaign_id']}"
        paused = await api.post(f"{campaign}/pause")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        assert (await api.post(f"{campaign}/pause")).status_code == 409
        await cp.call("StatusNotification", {**charging, "status": "Available"})
        assert (await api.post(f"{campaign}/resume")).json()["status"] == "running"
        done = await campaign_state(api, created["campaign_id"], lambda c: c["status"] == "completed")
        assert done["progress"] == {"succeeded": 1}
        await cp.close()
