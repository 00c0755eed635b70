"""Where the auth service is wired together: settings in, a runnable app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from voltline_bus import EventConsumer, TopicSpec
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.security import StaticTokenVerifier
from voltline_events import Topics

from voltline_auth.domain.stations import BootPolicy
from voltline_auth.entrypoints.api import build_router
from voltline_auth.entrypoints.consumers import build_dispatcher
from voltline_auth.service_layer.stations import StationContext, republish_registry
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork
from voltline_auth.settings import AuthSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION = "0.1.0"


def build(settings: AuthSettings) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    infra = ServiceInfra.from_settings(settings)
    topics = infra.topics
    ctx = StationContext(
        uow=lambda: AuthUnitOfWork(infra.sessions, relay=infra.relay),
        topics=topics,
        source=infra.source,
        clock=lambda: datetime.now(UTC),
    )
    policy = BootPolicy(settings.unknown_station_policy, settings.heartbeat_interval_s, settings.boot_retry_interval_s)
    consumer = EventConsumer(
        infra.bus,
        group_id=f"{settings.topic_prefix}voltline-auth",
        topics=[topics.auth_requests],
        handler=build_dispatcher(ctx, policy, infra.producer),
        dead_letter=infra.producer,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await infra.start(
            MIGRATIONS,
            [
                TopicSpec(topics.station_registry, compacted=True),
                TopicSpec(topics.auth_requests),
                TopicSpec(Topics.dead_letter(topics.auth_requests)),
            ],
        )
        await republish_registry(ctx)
        await consumer.start()
        try:
            yield
        finally:
            await consumer.stop()
            await infra.stop()

    return create_app(
        settings=settings,
        title="voltline auth",
        version=VERSION,
        verifier=StaticTokenVerifier(settings.admin_token),
        readiness_checks=infra.readiness_checks(),
        lifespan=lifespan,
        routers=[build_router(ctx)],
    )
