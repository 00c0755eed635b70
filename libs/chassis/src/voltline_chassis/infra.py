"""The bus and store plumbing every stateful service has, built once from its settings.

A service's bootstrap adds its own consumers and routes; this owns the order things start and stop
in: migrations before anything reads the store, the producer before the outbox relay, consumers
(started by the service) last, and the reverse on the way down.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from voltline_bus import (
    BrokerProbe,
    BrokerWatch,
    BusConfig,
    EventConsumer,
    Producer,
    TopicSpec,
    ensure_topics,
    rewind_all_consumers,
)
from voltline_events import Topics
from voltline_store import OutboxRelay, check_database, create_engine, run_migrations, session_factory, warm_pool

from voltline_chassis.api_keys import ApiKeyFeed, ApiKeyVerifier, record_signing_key
from voltline_chassis.driver_tokens import DriverTokenVerifier
from voltline_chassis.gctune import tuned_gc
from voltline_chassis.security import ChainVerifier, StaticTokenVerifier, TokenVerifier
from voltline_chassis.settings import ServiceSettings
from voltline_chassis.tracing import configure_tracing


def bus_config(settings: ServiceSettings, client_id: str) -> BusConfig:
    return BusConfig(
        bootstrap=settings.kafka_bootstrap,
        client_id=client_id,
        idempotence=settings.kafka_idempotence,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        group_instance_id=settings.instance_id if settings.kafka_static_membership else None,
        linger_ms=settings.kafka_linger_ms,
        request_fetch_wait_ms=settings.kafka_request_fetch_wait_ms,
        security_protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=_kafka_password(settings),
        ssl_cafile=settings.kafka_ssl_cafile,
    )


def api_key_feed_for(settings: ServiceSettings, bus: BusConfig) -> ApiKeyFeed:
    """The service's copy of the operators' API keys, honouring only records the auth service signed."""
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (it also keys the API-key records' signatures)")
    key = record_signing_key(settings.admin_token.get_secret_value())
    return ApiKeyFeed(bus, Topics(settings.topic_prefix).api_keys, signing_key=key)


def _kafka_password(settings: ServiceSettings) -> str | None:
    if settings.kafka_sasl_password is not None:
        return settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_sasl_password_file is not None:
        return settings.kafka_sasl_password_file.read_text().strip()
    return None


@dataclass
class ServiceInfra:
    settings: ServiceSettings
    topics: Topics
    source: str
    bus: BusConfig
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: Producer
    relay: OutboxRelay
    api_keys: ApiKeyFeed | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    broker_watch: BrokerWatch | None = None
    _topics: list[TopicSpec] = field(default_factory=list)
    # /readyz's Kafka check: one connection kept, a success reused for a second (voltline_bus.ready).
    broker_probe: BrokerProbe | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings, *, api_key_feed: bool = True) -> ServiceInfra:
        """`api_key_feed`: keep a local copy of the operators' API keys (all but the auth service, which owns them)."""
        if not settings.database_url:
            raise ValueError(f"VOLTLINE_DATABASE_URL must be set for the {settings.service_name} service")
        source = f"{settings.service_name}/{settings.instance_id}"
        bus = bus_config(settings, source)
        configure_tracing(settings.service_name)  # before the engine: its statements are traced only if on
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        producer = Producer(bus)
        return cls(
            settings=settings,
            topics=Topics(settings.topic_prefix),
            source=source,
            bus=bus,
            engine=engine,
            sessions=session_factory(engine),
            producer=producer,
            relay=OutboxRelay(engine, producer, batch_size=settings.outbox_batch_size),
            api_keys=api_key_feed_for(settings, bus) if api_key_feed else None,
            broker_watch=BrokerWatch(
                bus, interval=settings.broker_watch_interval_s, handler_timeout=settings.broker_reset_timeout_s
            ),
        )

    def on_broker_reset(self, name: str, handler: Callable[[], Awaitable[None]]) -> None:
        """Run `handler` (idempotent) after the broker came back empty, once topics exist and the outbox is
        queued again: republish what this service owns that is older than the replay window, re-follow topics."""
        if self.broker_watch is not None:
            self.broker_watch.on_reset(name, handler)

    async def _after_broker_reset(self) -> None:
        await ensure_topics(self.bus, self._topics)
        await rewind_all_consumers()
        await self.relay.republish_recent(timedelta(seconds=self.settings.broker_replay_window_s))
        if self.api_keys is not None:
            await self.api_keys.stop()
            await self.api_keys.start()

    async def start(self, migrations: Path, topics: Sequence[TopicSpec] = ()) -> None:
        await run_migrations(self.settings.database_url or "", migrations)
        await warm_pool(self.engine)  # before the consumers join: their first batches need no connects
        self._topics = list(topics)
        await ensure_topics(self.bus, topics)
        await self.producer.start()
        await self.relay.start()
        if self.api_keys is not None:
            await self.api_keys.start()
        if self.broker_watch is not None:
            self.broker_watch.on_reset("infra", self._after_broker_reset, first=True)
            await self.broker_watch.start()

    async def stop(self) -> None:
        if self.broker_watch is not None:
            await self.broker_watch.stop()
        if self.broker_probe is not None:
            await self.broker_probe.close()
        if self.api_keys is not None:
            await self.api_keys.stop()
        await self.relay.stop()
        await self.producer.stop()
        await self.engine.dispose()

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "database": lambda: check_database(self.engine),
            "kafka": self._check_broker,
        }
        if self.api_keys is not None:
            checks["api_keys"] = self.api_keys.check
        return checks

    async def _check_broker(self) -> None:
        if self.broker_probe is None:
            self.broker_probe = BrokerProbe(self.bus)
        await self.broker_probe.check()

    def watch(self, consumer: EventConsumer) -> EventConsumer:
        """Show this consumer's lag in /readyz details (`consumer_lag`); apply the consumer settings common to all."""
        if self.settings.consumer_commit_caught_up:
            consumer.commit_caught_up = True
        self.consumers.append(consumer)
        return consumer

    def readiness_details(self) -> dict[str, Callable[[], Awaitable[Any]]]:
        async def consumer_lag() -> dict[str, dict[str, int]]:
            return {c.group_id: await c.lag() for c in self.consumers}

        return {"consumer_lag": consumer_lag}

    def verifier(self) -> TokenVerifier:
        """The bootstrap admin token, the API keys the auth service issued, and drivers' access tokens."""
        if self.settings.admin_token is None:
            raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
        verifiers: list[TokenVerifier] = [StaticTokenVerifier(self.settings.admin_token)]
        if self.api_keys is not None:
            verifiers.append(ApiKeyVerifier(self.api_keys.lookup))
            verifiers.append(DriverTokenVerifier(self.api_keys.driver_keys.get))
        return ChainVerifier(verifiers)

    def lifespan(
        self,
        migrations: Path,
        topics: Sequence[TopicSpec] = (),
        *,
        after_start: Callable[[], Awaitable[None]] | None = None,
        before_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
        """A FastAPI lifespan: infra up, then the service's own start (consumers), and back down."""

        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await self.start(migrations, topics)
            try:
                # What start-up created is frozen out of collections. The full collection that comes first runs
                # before the consumers start (`after_start`): after it, it stalled the first batches of a backlog.
                with tuned_gc(self.settings.gc_thresholds):
                    if after_start is not None:
                        await after_start()
                    gc.freeze()  # the consumers' clients live as long as the service too
                    yield
            finally:
                try:
                    if before_stop is not None:
                        await before_stop()
                finally:
                    await self.stop()

        return lifespan
