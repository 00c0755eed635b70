"""Read-your-writes for station passwords: on a password the gateway does not know, ask the auth service.

A rotated password reaches the gateway through the registry topic, a second or two after the station
was told. A station that reconnects at once with it must not get 401: so a wrong password makes the
gateway ask auth for the station's current entry (request/reply over Kafka) and check again. At most
one question per station per `min_interval`, and `concurrency` at a time, so a flood of wrong passwords
cannot turn into a flood of questions.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import structlog
from voltline_events import Event
from voltline_events.payloads import StationCredentialsRequested, StationRegistered

from voltline_gateway.adapters.registry import StationRegistry
from voltline_gateway.domain.security import RegistryEntry

log = structlog.get_logger()
Ask = Callable[[Event, str], Awaitable[Event | None]]


class CredentialRefresher:
    def __init__(self, ask: Ask, registry: StationRegistry, *, min_interval: float = 1.0, concurrency: int = 8) -> None:
        self._ask = ask
        self._registry = registry
        self._min_interval = min_interval
        self._slots = concurrency
        self._asked: OrderedDict[str, float] = OrderedDict()
        self._running: dict[str, asyncio.Task[RegistryEntry | None]] = {}

    async def refresh(self, station_id: str) -> RegistryEntry | None:
        """The entry as auth has it now; None when not asked (too soon, too busy) or unanswered."""
        running = self._running.get(station_id)
        if running is not None:
            return await asyncio.shield(running)
        now = time.monotonic()
        last = self._asked.get(station_id)
        if (last is not None and now - last < self._min_interval) or len(self._running) >= self._slots:
            return None
        self._asked[station_id] = now
        self._asked.move_to_end(station_id)
        while len(self._asked) > 100_000:
            self._asked.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._fetch(station_id))
        self._running[station_id] = task
        task.add_done_callback(lambda _: self._running.pop(station_id, None))
        return await asyncio.shield(task)

    async def _fetch(self, station_id: str) -> RegistryEntry | None:
        answer = await self._ask(StationCredentialsRequested(), station_id)
        if not isinstance(answer, StationRegistered):
            return None
        self._registry.put(station_id, answer)
        return self._registry.get(station_id)
