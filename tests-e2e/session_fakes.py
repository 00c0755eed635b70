"""Fakes of the services around the session service for its tests: a scripted responder on a request topic
(auth, gateway), stations behind a fake gateway, and helpers to bring a station online."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from test_session_support import ADMIN, RunningSession, StationSim, eventually
from voltline_bus import Producer, reply
from voltline_events import Envelope, Event, decode_payload
from voltline_events.payloads import StationCommand, StationCommandResult

Script = Callable[[Envelope, Any], Awaitable[Event | None]]


class Responder:
    """Answers requests on one topic per a script (None: stays silent), like the real owner would."""

    def __init__(self, bootstrap: str, producer: Producer, topic: str, script: Script, source: str) -> None:
        self.bootstrap, self.producer, self.topic, self.script, self.source = bootstrap, producer, topic, script, source
        self.requests: list[tuple[str | None, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        partitions = await self.producer.partitions_for(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        request = Envelope.from_bytes(record.value or b"")
                        payload = decode_payload(request)
                        self.requests.append((request.station_id, payload))
                        answer = await self.script(request, payload)
                        if answer is not None:
                            await reply(self.producer, request, answer, source=self.source)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Stations:
    """What the stations behind the fake gateway do: per station id, a function of the command."""

    def __init__(self) -> None:
        self.behaviour: dict[str, Callable[[StationCommand], Awaitable[StationCommandResult | None]]] = {}

    async def __call__(self, request: Envelope, command: StationCommand) -> Event | None:
        handle = self.behaviour.get(request.station_id or "")
        return await handle(command) if handle else StationCommandResult(outcome="offline", action=command.action)


def now() -> datetime:
    return datetime.now(UTC)


_background: set[asyncio.Task[Any]] = set()


def soon(coroutine: Awaitable[Any]) -> None:
    """What the station does right after answering (its message races the answer on the bus)."""
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def presence(service: RunningSession, cp: StationSim, *, connected: bool) -> None:
    """Wait until the service has consumed the station's (dis)connect: remote starts depend on it."""

    async def seen() -> bool:
        response = await service.api.get(f"/api/v1/station-presence/{cp.station_id}", headers=ADMIN)
        return response.status_code == 200 and response.json()["connected"] is connected

    await eventually(seen, what=f"{cp.station_id} to be {'connected' if connected else 'disconnected'}")


async def online(service: RunningSession, station_id: str, version: str = "ocpp1.6") -> StationSim:
    cp = service.station(station_id, version)
    await cp.connect()
    await presence(service, cp, connected=True)
    return cp
