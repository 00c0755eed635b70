"""Bulk commands: the same command for a selection of stations, each a command record carrying the bulk id.

Stations are chosen by id, model, firmware version (from their boots) and online status (from presence);
commands go out a few at a time in the background; progress counts the records by status.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voltline_chassis.logging import get_logger

from voltline_diagnostics.domain.commands import CommandNotPossible
from voltline_diagnostics.service_layer.commands import CommandService
from voltline_diagnostics.service_layer.maintenance_ports import Bulk, MaintenanceStore, OnlineStations

log = get_logger(__name__)
CONCURRENCY = 16


class EmptySelection(ValueError):
    pass


@dataclass(frozen=True)
class Progress:
    bulk: Bulk
    by_status: dict[str, int]

    @property
    def done(self) -> int:
        return sum(n for s, n in self.by_status.items() if s not in ("queued", "sent"))


class BulkService:
    def __init__(
        self,
        sessions: MaintenanceStore,
        commands: CommandService,
        online: OnlineStations,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions, self._commands, self._online, self._clock = sessions, commands, online, clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def select(self, selection: dict[str, Any]) -> list[str]:
        chosen: list[str] | None = list(dict.fromkeys(selection.get("station_ids") or [])) or None
        if selection.get("model") or selection.get("firmware_version"):
            async with self._sessions() as db:
                versions = [selection["firmware_version"]] if selection.get("firmware_version") else None
                found = [s.station_id for s in await db.firmware.stations(selection.get("model"), versions)]
            chosen = found if chosen is None else [s for s in chosen if s in set(found)]
        status = selection.get("status")
        if status is not None:
            online = set(self._online.online())
            if chosen is None:
                chosen = sorted(online) if status == "online" else None
            if chosen is not None:
                chosen = [s for s in chosen if (s in online) == (status == "online")]
        if not chosen:
            raise EmptySelection("the selection matches no station")
        return chosen

    async def start(
        self,
        command: str,
        params: dict[str, Any],
        selection: dict[str, Any],
        by: str,
        stations: list[str] | None = None,
    ) -> Bulk:
        chosen = stations if stations is not None else await self.select(selection)
        bulk = Bulk(str(uuid.uuid4()), command, params, selection, chosen, by, self._clock())
        async with self._sessions() as db:
            await db.profiles.add_bulk(bulk)
            await db.commit()
        return self.run(bulk, [(s, params) for s in chosen])

    def run(self, bulk: Bulk, work: list[tuple[str, dict[str, Any]]]) -> Bulk:
        """Send each (station, params) as a command of `bulk` in the background."""
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(station_id: str, params: dict[str, Any]) -> None:
            async with gate:
                try:
                    outcome = await self._commands.submit(
                        station_id, bulk.command, params, bulk.requested_by, bulk_id=bulk.bulk_id
                    )
                except CommandNotPossible as exc:
                    await self._commands.refuse(
                        station_id, bulk.command, params, bulk.requested_by, bulk.bulk_id, str(exc)
                    )
                    return
                if isinstance(outcome, asyncio.Task):
                    await outcome

        async def all_of() -> None:
            await asyncio.gather(*(one(s, p) for s, p in work), return_exceptions=True)
            log.info("bulk command finished", bulk_id=bulk.bulk_id, stations=len(work))

        task = asyncio.create_task(all_of(), name=f"bulk:{bulk.bulk_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return bulk

    async def progress(self, bulk_id: str) -> Progress | None:
        async with self._sessions() as db:
            bulk = await db.profiles.bulk(bulk_id)
            if bulk is None:
                return None
            return Progress(bulk, await db.commands.count_by_status(bulk_id))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
