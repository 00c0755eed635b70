"""Remote maintenance wired in one place, so bootstrap.py only adds its routers, topics and start/stop."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter
from voltline_bus import RequestReplyClient, StationCommandClient, TopicSpec
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.logging import get_logger

from voltline_diagnostics.adapters.online import OnlineStations
from voltline_diagnostics.entrypoints.api_commands import build_command_router
from voltline_diagnostics.maintenance_settings import MaintenanceSettings
from voltline_diagnostics.service_layer.commands import CommandPolicy, CommandService

log = get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Maintenance:
    """What remote maintenance adds to the service: `api_routers` (under /api/v1), `open_routers` (for stations,
    no bearer token), the topics it needs, and `start`/`stop` for its consumers and background tasks."""

    api_routers: list[APIRouter]
    open_routers: list[APIRouter]
    topics: list[TopicSpec]
    starts: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for start in self.starts:
            await start()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for stop in reversed(self.stops):
            with contextlib.suppress(Exception):
                await stop()


async def _every(interval: float, job: Callable[[], Awaitable[None]], what: str) -> None:
    while True:
        try:
            await job()
        except Exception:
            log.exception("periodic job failed", job=what)
        await asyncio.sleep(interval)


def build_maintenance(settings: MaintenanceSettings, infra: ServiceInfra, *, partitions: int = 6) -> Maintenance:
    topics = infra.topics
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", infra.settings.instance_id)
    rpc = RequestReplyClient(infra.bus, infra.producer, topics.service_replies("diagnostics", instance))
    client = StationCommandClient(rpc, topics, source=infra.source)
    online = OnlineStations(infra.bus, infra.producer, topics.gateway_presence)
    policy = CommandPolicy(
        timeout_s=settings.command_timeout_s,
        answer_wait_s=settings.command_answer_wait_s,
        max_station_wait_s=settings.command_station_wait_max_s,
    )
    commands = CommandService(infra.sessions, client, online, policy, utcnow)
    maintenance = Maintenance(
        api_routers=[build_command_router(commands)],
        open_routers=[],
        topics=[
            TopicSpec(topics.station_commands, partitions=partitions),
            TopicSpec(topics.gateway_presence, compacted=True),
            TopicSpec(topics.station_events, partitions=partitions),
        ],
    )

    async def start() -> None:
        await rpc.start()
        await online.start()
        maintenance.tasks.append(
            asyncio.create_task(_every(60, commands.sweep, "command sweep"), name="commands-sweep")
        )

    maintenance.starts.append(start)
    maintenance.stops.extend([rpc.stop, online.stop, commands.stop])
    return maintenance
