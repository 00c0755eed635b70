"""Where the gateway is wired together: settings in, a runnable app (HTTP API + OCPP server) out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from voltline_bus import Producer, RequestReplyClient, TopicSpec, check_broker, ensure_topics
from voltline_chassis.app import create_app
from voltline_chassis.infra import bus_config
from voltline_chassis.security import StaticTokenVerifier
from voltline_events import Topics

from voltline_gateway.actions import ROUTES
from voltline_gateway.actions.context import BootFallback
from voltline_gateway.adapters.bus import KafkaStationBus
from voltline_gateway.adapters.ocpp_server import Connections, OcppServer
from voltline_gateway.entrypoints.api import build_router
from voltline_gateway.service_layer.dispatch import Dispatcher
from voltline_gateway.settings import GatewaySettings

VERSION = "0.1.0"


def build(settings: GatewaySettings) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    topics = Topics(settings.topic_prefix)
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", settings.instance_id)
    source = f"gateway/{instance}"
    kafka = bus_config(settings, source)
    producer = Producer(kafka)
    reply_topic = topics.gateway_replies(instance)
    rpc = RequestReplyClient(kafka, producer, reply_topic)
    bus = KafkaStationBus(producer, rpc, topics, source=source, auth_timeout=settings.auth_timeout_s)
    fallback = BootFallback(settings.boot_fallback_status, settings.boot_fallback_interval_s)
    connections = Connections()
    server = OcppServer(
        host=settings.ocpp_host,
        port=settings.ocpp_port,
        dispatcher=Dispatcher(ROUTES, bus, fallback),
        bus=bus,
        connections=connections,
        instance_id=instance,
        max_frame_bytes=settings.max_frame_bytes,
        ping_interval=settings.ping_interval_s,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(
            kafka,
            [
                TopicSpec(topics.station_events, partitions=settings.station_events_partitions),
                TopicSpec(topics.auth_requests),
                TopicSpec(reply_topic, retention_ms=3_600_000),
            ],
        )
        await producer.start()
        await rpc.start()
        await server.start()
        try:
            yield
        finally:
            await server.stop()
            await rpc.stop()
            await producer.stop()

    return create_app(
        settings=settings,
        title="voltline gateway",
        version=VERSION,
        verifier=StaticTokenVerifier(settings.admin_token),
        readiness_checks={"kafka": lambda: check_broker(kafka)},
        lifespan=lifespan,
        routers=[build_router(connections, instance)],
    )
