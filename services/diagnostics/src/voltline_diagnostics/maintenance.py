"""Remote maintenance wired in one place, so bootstrap.py only adds its routers, topics and start/stop.

In bootstrap.py (docs/maintenance.md):

    maintenance = build_maintenance(settings, infra)
    # topics: [..., *maintenance.topics]; after_start: ... await maintenance.start();
    # before_stop: await maintenance.stop() ...; routers: [..., *maintenance.api_routers]
    for router in maintenance.open_routers:  # for stations, without a bearer token
        app.include_router(router)
    # the station events consumer hands on the connector statuses it decodes, and runs maintenance's rare
    # station events alone (no consumer of its own): handler=maintenance.alongside(build_dispatcher(ctx,
    # on_status=maintenance.connector_status)), solo=maintenance.is_rare and
    # batch_scope=maintenance.with_connector_statuses(its own scope)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from voltline_bus import Dispatcher, RequestReplyClient, StationCommandClient, TopicSpec
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.logging import get_logger
from voltline_events import Envelope, Topics
from voltline_events.payloads import BootNotification, ConnectorStatus

from voltline_diagnostics.adapters.firmware_records import FirmwareRecords
from voltline_diagnostics.adapters.ftp import FtpReceiver
from voltline_diagnostics.adapters.maintenance_store import sql_maintenance_store
from voltline_diagnostics.adapters.online import OnlineStations
from voltline_diagnostics.adapters.status_batch import RunWrites
from voltline_diagnostics.adapters.storage import LocalFolderStorage
from voltline_diagnostics.entrypoints.api_bulk import build_bulk_router
from voltline_diagnostics.entrypoints.api_commands import build_command_router
from voltline_diagnostics.entrypoints.api_firmware import build_firmware_files_router, build_firmware_router
from voltline_diagnostics.entrypoints.api_logs import build_log_router, build_upload_router
from voltline_diagnostics.entrypoints.api_security import build_security_router, security_event_recorder
from voltline_diagnostics.entrypoints.maintenance_consumers import (
    MessageHandler,
    RareEvents,
    build_maintenance_dispatcher,
    rare_events,
)
from voltline_diagnostics.maintenance_settings import MaintenanceSettings
from voltline_diagnostics.service_layer.bulk import BulkService
from voltline_diagnostics.service_layer.campaigns import CampaignService, collecting_statuses
from voltline_diagnostics.service_layer.commands import CommandPolicy, CommandService
from voltline_diagnostics.service_layer.logs import Locations, LogService
from voltline_diagnostics.service_layer.maintenance_ports import Firmware
from voltline_diagnostics.service_layer.profiles import ProfileService

log = get_logger(__name__)
BatchScope = Callable[[Sequence[Envelope]], AbstractAsyncContextManager[Any]]  # an EventConsumer's batch_scope
RunScope = Callable[[Sequence[Envelope]], AbstractAsyncContextManager[RunWrites]]  # a PrefetchingBatch


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Maintenance:
    """What remote maintenance adds to the service: `api_routers` (under /api/v1), `open_routers` (for stations,
    no bearer token), the topics it needs, and `start`/`stop` for its consumers and background tasks."""

    api_routers: list[APIRouter]
    open_routers: list[APIRouter]
    topics: list[TopicSpec]
    # Connector statuses (firmware campaigns wait for idle connectors; GET /station-firmware shows them) come
    # from the station events consumer, which decodes every StatusNotification anyway: each is decoded once.
    connector_status: Callable[[str, ConnectorStatus], Awaitable[None]]
    # Its station events (boots; firmware, log and security notifications: rare) run in the station events
    # consumer, each alone (`is_rare` is that consumer's `solo`): a consumer of their own read every station
    # event a second time only to skip nearly all of them (docs/diagnostics.md).
    station_events: Dispatcher
    is_rare: Callable[[Envelope], bool]
    starts: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for start in self.starts:
            await start()

    def alongside(self, main: Dispatcher) -> RareEvents:
        """The station events consumer's handler: `main`, and maintenance's handlers for the rare events."""
        return RareEvents(main, self.station_events, self.is_rare)

    def with_connector_statuses(self, inner: RunScope) -> BatchScope:
        """`inner` (the station events consumer's PrefetchingBatch) that also writes the batch's last
        status per connector into maintenance's table, in the same transaction (one upsert before its commit:
        a transaction of its own after each batch halved the consumer's wall-clock rate)."""

        @asynccontextmanager
        async def scope(envelopes: Sequence[Envelope]) -> AsyncIterator[RunWrites]:
            async with inner(envelopes) as run, collecting_statuses() as pending:
                yield run
                if pending:  # with the run's events: in its batch, or on their own if it opened no transaction
                    await run.write(lambda db: FirmwareRecords(db).connectors_many(pending))

        return scope

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


def build_maintenance(settings: MaintenanceSettings, infra: ServiceInfra) -> Maintenance:
    topics = infra.topics
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", infra.settings.instance_id)
    rpc = RequestReplyClient(
        replace(infra.bus, request_fetch_wait_ms=settings.command_reply_fetch_wait_ms),
        infra.producer,
        topics.service_replies("diagnostics-maintenance", instance),
    )
    client = StationCommandClient(rpc, topics, source=infra.source)
    online = OnlineStations(infra.bus, infra.producer, topics.gateway_presence)
    policy = CommandPolicy(
        timeout_s=settings.command_timeout_s,
        answer_wait_s=settings.command_answer_wait_s,
        max_station_wait_s=settings.command_station_wait_max_s,
    )

    def who(subject: str) -> str:
        """The audit log names the API key that asked, with its id."""
        feed = infra.api_keys
        if feed is not None and subject.startswith("api-key:"):
            record = feed.table.by_id(subject.removeprefix("api-key:"))
            if record is not None:
                return f"{record.name} ({subject})"
        return subject

    store = sql_maintenance_store(infra.sessions)
    commands = CommandService(store, client, online, policy, utcnow, who)
    storage = LocalFolderStorage(settings.maintenance_files_dir)
    public_url = settings.public_url or f"http://{infra.settings.http_host}:{infra.settings.http_port}"
    ftp: FtpReceiver | None = None
    if settings.ftp_enabled:
        ftp = FtpReceiver(
            host=settings.ftp_host,
            port=settings.ftp_port,
            public_host=settings.ftp_public_host or settings.ftp_host,
            passive_ports=settings.ftp_passive_ports,
            incoming=storage.incoming(),
            max_bytes=settings.upload_max_bytes,
            valid=lambda token: logs.token_valid(token),
            accept=lambda token, name, temp, size: logs.accept(token, name, temp, size),
        )
    ftp_base = f"ftp://{settings.ftp_public_host or settings.ftp_host}:{settings.ftp_port}" if ftp else None
    logs = LogService(
        store,
        commands,
        storage,
        Locations(public_url, ftp_base),
        utcnow,
        token_ttl=timedelta(seconds=settings.upload_token_ttl_s),
        retention=timedelta(days=settings.log_retention_days),
        max_bytes=settings.upload_max_bytes,
    )

    def firmware_location(firmware: Firmware) -> str:
        if firmware.file_name:
            return f"{public_url.rstrip('/')}/firmware/{firmware.firmware_id}/{firmware.file_name}"
        return firmware.url or ""

    campaigns = CampaignService(store, commands, online, firmware_location, utcnow)

    async def log_status(station_id: str, action: str, payload: dict[str, Any], _env: Envelope) -> None:
        await logs.station_status(station_id, action, payload)

    async def firmware_status(station_id: str, _action: str, payload: dict[str, Any], _env: Envelope) -> None:
        if isinstance(payload.get("status"), str):
            await campaigns.firmware_status(station_id, payload["status"])

    bulk = BulkService(store, commands, online, utcnow)
    profiles = ProfileService(store, bulk, online, utcnow)
    commands.on_answer.append(profiles.remember)

    async def booted(station_id: str, boot: BootNotification, envelope: Envelope) -> None:
        await profiles.booted(station_id)
        await campaigns.booted(station_id, boot.vendor, boot.model, boot.firmware_version, envelope.time)

    async def connector(station_id: str, status: ConnectorStatus) -> None:
        await campaigns.connector_status(station_id, str(status.connector_id), status.status)

    handlers: dict[str, MessageHandler] = {
        "DiagnosticsStatusNotification": log_status,
        "LogStatusNotification": log_status,
        "SecurityEventNotification": security_event_recorder(infra.sessions, utcnow),
        "FirmwareStatusNotification": firmware_status,
        "SignedFirmwareStatusNotification": firmware_status,
    }
    # No on_status: connector statuses come from the station events consumer (above), decoded once.
    dispatcher = build_maintenance_dispatcher(handlers, on_boot=booted)
    maintenance = Maintenance(
        api_routers=[
            build_command_router(commands),
            build_log_router(logs),
            build_security_router(infra.sessions),
            build_firmware_router(infra.sessions, storage, campaigns),
            build_bulk_router(bulk, profiles),
        ],
        open_routers=[build_upload_router(logs), build_firmware_files_router(infra.sessions, storage)],
        connector_status=connector,
        station_events=dispatcher,
        is_rare=rare_events(handlers),
        topics=[
            TopicSpec.of(topics.station_commands),
            TopicSpec.of(topics.gateway_presence),
            TopicSpec.of(topics.station_events),
            TopicSpec(Topics.dead_letter(topics.station_events)),
        ],
    )

    async def start() -> None:
        await rpc.start()
        await online.start()
        try:  # commands judge "offline" from this table: let it load first
            await asyncio.wait_for(online.caught_up.wait(), infra.bus.connect_timeout)
        except TimeoutError:
            log.warning("presence feed not caught up; commands may see stations offline for a while")
        if ftp is not None:
            await ftp.start()
        maintenance.tasks.append(
            asyncio.create_task(_every(60, commands.sweep, "command sweep"), name="commands-sweep")
        )
        maintenance.tasks.append(asyncio.create_task(_every(3600, logs.purge, "log retention"), name="logs-retention"))
        maintenance.tasks.append(
            asyncio.create_task(_every(settings.firmware_tick_s, campaigns.tick, "campaigns"), name="campaigns")
        )

    maintenance.starts.append(start)
    maintenance.stops.extend([rpc.stop, online.stop, commands.stop, bulk.stop])
    if ftp is not None:
        maintenance.stops.append(ftp.stop)
    return maintenance
