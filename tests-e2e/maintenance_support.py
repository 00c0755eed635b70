"""Remote maintenance end to end: a lean system (auth, diagnostics, gateway as processes) and stations that answer.

Each module starts its own system over the run's real Kafka and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from e2e_support import RunningSystem, start_system
from ocpp_client import station

BOOT = {
    "ocpp1.6": {"chargePointVendor": "ACME", "chargePointModel": "Volt-22", "firmwareVersion": "1.0.0"},
    "ocpp2.0.1": {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "ACME", "model": "Volt-22", "firmwareVersion": "1.0.0"},
    },
}
BOOT["ocpp2.1"] = BOOT["ocpp2.0.1"]
NAMES = ("auth", "diagnostics", "gateway")
UPLOAD_LIMIT = 1_000_000
_ids = itertools.count(1)

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any] | None]


def start_maintenance_system(
    kafka: Any, postgres: Any, tmp: Path, diagnostics_env: dict[str, str] | None = None
) -> Iterator[RunningSystem]:
    files = {"VOLTLINE_MAINTENANCE_FILES_DIR": str(tmp / "files"), **(diagnostics_env or {})}
    yield from start_system(kafka, postgres, tmp, extra_env={"diagnostics": files}, names=NAMES)


class SimStation:
    """An OCPP-J station that answers the CSMS's calls per `answers` (else NotImplemented) and remembers them."""

    def __init__(self, socket: Any, version: str, answers: dict[str, Answer] | None = None) -> None:
        self.socket, self.version, self.answers = socket, version, dict(answers or {})
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if frame[0] == 2:
                _, message_id, action, payload = frame
                self.received.append((action, payload))
                answer = self.answers.get(action)
                if callable(answer):
                    answer = answer(payload)
                reply = [3, message_id, answer] if answer is not None else [4, message_id, "NotImplemented", "", {}]
                await self.socket.send(json.dumps(reply))
            elif frame[1] in self._pending:
                self._pending.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = f"s{next(_ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        frame = await asyncio.wait_for(future, 30)
        assert frame[0] == 3, frame
        return frame[2]  # type: ignore[no-any-return]

    async def boot(self, firmware: str = "1.0.0", model: str = "Volt-22") -> None:
        boot = json.loads(json.dumps(BOOT[self.version]))
        if self.version == "ocpp1.6":
            boot["firmwareVersion"], boot["chargePointModel"] = firmware, model
        else:
            boot["chargingStation"]["firmwareVersion"], boot["chargingStation"]["model"] = firmware, model
        assert (await self.call("BootNotification", boot))["status"] == "Accepted"

    def last(self, action: str) -> dict[str, Any]:
        for got, payload in reversed(self.received):
            if got == action:
                return payload
        raise AssertionError(f"the station never received {action}; got {[a for a, _ in self.received]}")

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def connected(system: RunningSystem, station_id: str, version: str, answers: dict[str, Answer]) -> Any:
    async with station(system.ocpp_url, station_id, version) as ws:
        sim = SimStation(ws, version, answers)
        try:
            yield sim
        finally:
            await sim.close()


def client(system: RunningSystem, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{system.url(service)}/api/v1", headers=system.headers, timeout=60)


async def register(system: RunningSystem, *station_ids: str) -> None:
    async with client(system, "auth") as auth:
        for station_id in station_ids:
            response = await auth.post("/stations", json={"station_id": station_id})
            assert response.status_code == 201, response.text
