"""Where the diagnostics service is wired together: settings in, a runnable app out.

Health (status, history, alerts, webhooks, inventory, uptime) is wired here; other features of the service
(remote commands, configuration) add their routers and consumers beside these.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from voltline_bus import EventConsumer, RequestReplyClient, TopicSpec
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.logging import get_logger
from voltline_chassis.problems import install_problem_mapping
from voltline_chassis.version import VERSION
from voltline_events import Topics
from voltline_store import Reader, TransactionBatch

from voltline_diagnostics.adapters.commands import InventoryCommands
from voltline_diagnostics.adapters.locations_repo import SqlLocationStore
from voltline_diagnostics.adapters.status_batch import (
    LingeringWake,
    PrefetchingBatch,
    StatusBatchState,
    in_current_batch,
    note_forwarded,
)
from voltline_diagnostics.adapters.tariff_follower import TariffFollower
from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
from voltline_diagnostics.domain.alerts import configure
from voltline_diagnostics.domain.heard import HeardMemory
from voltline_diagnostics.domain.rate_limit import RateLimiter
from voltline_diagnostics.domain.status import Silence
from voltline_diagnostics.domain.tariff_table import TariffTable
from voltline_diagnostics.domain.webhooks import Backoff
from voltline_diagnostics.entrypoints import (
    api_alerts,
    api_inventory,
    api_locations,
    api_status,
    api_stream,
    api_uptime,
    api_webhooks,
)
from voltline_diagnostics.entrypoints.consumers import build_dispatcher
from voltline_diagnostics.entrypoints.errors import PROBLEMS
from voltline_diagnostics.maintenance import build_maintenance
from voltline_diagnostics.service_layer import heard
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_diagnostics.service_layer.inventory import run_first_boot_inventory
from voltline_diagnostics.service_layer.locations import LocationsContext
from voltline_diagnostics.service_layer.monitor import run_monitor
from voltline_diagnostics.service_layer.webhooks import DeliveryWorker
from voltline_diagnostics.settings import DiagnosticsSettings

log = get_logger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def wire_heard(ctx: HealthContext, batches: PrefetchingBatch, trust_s: float) -> None:
    """Quiet station events answered from memory: the batches tell it what they committed (or that they failed)."""
    ctx.heard = HeardMemory(trust_s)
    ctx.in_batch = in_current_batch
    ctx.note_forwarded = note_forwarded
    batches.quiet = lambda envelope: heard.would_be_quiet(ctx, envelope)

    def committed(state: StatusBatchState) -> None:
        stations = [s for s in state.stations.values() if s is not None]
        ports = {sid: list(rows.values()) for sid, rows in state.connectors.items()}
        heard.remember(ctx, stations, ports, state.forwarded)

    batches.committed = committed
    batches.failed = lambda station_ids: heard.forget(ctx, station_ids)


async def _every(interval: float, job: Callable[[], Awaitable[Any]]) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except Exception:  # retried at the next round (what was taken is put back)
            log.exception("last seen times not written")


def build(settings: DiagnosticsSettings) -> FastAPI:
    infra = ServiceInfra.from_settings(settings)
    maintenance = build_maintenance(settings, infra)
    topics = infra.topics
    ctx = HealthContext(
        uow=lambda: SqlDiagnosticsUnitOfWork(infra.sessions, relay=infra.relay),
        topics=topics,
        source=infra.source,
        clock=lambda: datetime.now(UTC),
        rules=configure(settings.alert_rules),
        silence=Silence(settings.unresponsive_factor, timedelta(seconds=settings.unresponsive_min_s)),
        default_heartbeat_s=settings.heartbeat_interval_s,
        backoff=Backoff(
            timedelta(seconds=settings.webhook_backoff_initial_s),
            timedelta(seconds=settings.webhook_backoff_max_s),
            settings.webhook_attempts,
        ),
    )
    reader = ctx.reader = Reader(infra.engine)
    ctx.dialect = infra.engine.dialect.name
    deliveries = DeliveryWorker(ctx, poll=settings.webhook_poll_s, timeout=settings.webhook_timeout_s)
    ctx.wake_deliveries = deliveries.wake
    station_events = maintenance.alongside(build_dispatcher(ctx, on_status=maintenance.connector_status))
    prefetching = PrefetchingBatch(
        TransactionBatch(infra.sessions, inbox_consumer=CONSUMER),
        wake=LingeringWake(infra.relay.wake, settings.outbox_wake_linger_s),
        source=infra.source,
    )
    if settings.last_seen_flush_s > 0:  # quiet events answered from memory (service_layer/heard.py)
        wire_heard(ctx, prefetching, settings.last_seen_trust_s)
    consumer = infra.watch(
        EventConsumer(
            infra.bus,
            group_id=f"{settings.topic_prefix}voltline-diagnostics",
            topics=[topics.station_events, topics.sessions],
            # Connector statuses also go to remote maintenance (firmware campaigns), decoded once here; its
            # rare events (boots, firmware, log and security notifications) are handled here too, each alone
            # (solo: outside the batch transactions), instead of by a second consumer of every station event.
            handler=station_events,
            event_types=station_events.event_types,
            solo=maintenance.is_rare,
            dead_letter=infra.producer,
            # One transaction per fetched batch per partition; the inbox markers go in one statement, the
            # batch's station and connector rows are read up front and written once at its commit, with the
            # batch's last connector statuses in maintenance's table. The relay publishes the status changes
            # of the commits of a moment (outbox_wake_linger_s) in one round, grouped in a few events a batch.
            batch_scope=maintenance.with_connector_statuses(prefetching),
            max_poll_records=settings.consumer_batch_size,
            batch_max_s=settings.consumer_batch_max_s,
            fetch_wait_ms=settings.consumer_fetch_wait_ms,
            # A few batch transactions per fetch (lanes), not one per partition (see the setting).
            merge_partitions=settings.consumer_batch_lanes,
            # A lane whose batch is done polls its partitions again at once (see the setting; ADR 0031).
            pipeline_partitions=settings.consumer_pipeline_partitions,
        )
    )
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", settings.instance_id)
    replies = replace(infra.bus, request_fetch_wait_ms=settings.command_reply_fetch_wait_ms)  # see the setting
    rpc = RequestReplyClient(replies, infra.producer, topics.service_replies("diagnostics", instance))
    commands = InventoryCommands(rpc, topics, source=infra.source, timeout_s=settings.command_timeout_s)
    stream = api_stream.LiveStream(infra.bus, topics.diagnostics)
    tariffs = TariffFollower(infra.bus, topics.tariffs, TariffTable())
    infra.on_broker_reset("tariffs", tariffs.restart)
    places = LocationsContext(SqlLocationStore(infra.sessions), tariffs.table, ctx.clock)
    location_routes, location_search = api_locations.build_routers(
        places, RateLimiter(settings.locations_rate_per_min, settings.locations_burst)
    )
    tasks: list[asyncio.Task[None]] = []

    async def after_start() -> None:
        # status change groups are keyed like their stations' other events: by the topic's partitions
        prefetching.partitions = len(await infra.producer.partitions_for(topics.diagnostics))
        await rpc.start()
        await tariffs.start()
        await consumer.start()
        await maintenance.start()
        deliveries.start()
        if ctx.heard is not None:
            tasks.append(
                asyncio.create_task(
                    _every(settings.last_seen_flush_s, lambda: heard.write_heard(ctx)), name="diagnostics-last-seen"
                )
            )
        tasks.append(
            asyncio.create_task(
                run_monitor(ctx, settings.monitor_interval_s, settings.monitor_sweep_s), name="diagnostics-monitor"
            )
        )
        if settings.inventory_on_first_boot:
            first_boot = run_first_boot_inventory(
                ctx, commands, settings.monitor_interval_s, settings.inventory_delay_s
            )
            tasks.append(asyncio.create_task(first_boot, name="diagnostics-inventory"))

    async def before_stop() -> None:
        await maintenance.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await stream.stop()
        await deliveries.stop()
        await consumer.stop()
        with contextlib.suppress(Exception):  # what was heard and not written yet (logged by the task otherwise)
            await heard.write_heard(ctx)
        await tariffs.stop()
        await rpc.stop()
        reader.close()

    app = create_app(
        settings=settings,
        title="voltline diagnostics",
        version=VERSION,
        verifier=infra.verifier(),
        readiness_checks=infra.readiness_checks(),
        lifespan=infra.lifespan(
            MIGRATIONS,
            [
                TopicSpec.of(topics.station_events),
                TopicSpec.of(topics.sessions),
                TopicSpec.of(topics.diagnostics),
                TopicSpec.of(topics.station_commands),
                TopicSpec.of(topics.tariffs),
                TopicSpec(Topics.dead_letter(topics.station_events)),
                TopicSpec(Topics.dead_letter(topics.sessions)),
                *maintenance.topics,
            ],
            after_start=after_start,
            before_stop=before_stop,
        ),
        routers=[
            api_status.build_router(ctx),
            api_alerts.build_router(ctx),
            api_webhooks.build_router(ctx),
            api_inventory.build_router(ctx, commands),
            api_uptime.build_router(ctx),
            api_stream.build_router(stream),
            location_routes,
            *maintenance.api_routers,
        ],
        driver_routers=[location_search],
        public_routes=[("GET", f"/api/v1{api_locations.SEARCH_PATH}")],
    )
    for router in maintenance.open_routers:
        app.include_router(router)
    install_problem_mapping(app, PROBLEMS)
    return app
