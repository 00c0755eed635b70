"""Where the auth service is wired together: settings in, a runnable app out."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from voltline_bus import EventConsumer, RequestReplyClient, TopicSpec
from voltline_chassis.api_keys import ApiKeyRecord, ApiKeyVerifier, record_signing_key
from voltline_chassis.app import create_app
from voltline_chassis.driver_tokens import DriverTokenVerifier
from voltline_chassis.gctune import tuned_gc
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.problems import install_problem_mapping
from voltline_chassis.security import ChainVerifier, StaticTokenVerifier
from voltline_chassis.version import VERSION
from voltline_events import Topics, envelope_for
from voltline_events.payloads import TokenDecisions
from voltline_store import Reader, TransactionBatch, purge_inbox

from voltline_auth.adapters.commands import KafkaStationCommands
from voltline_auth.adapters.hashing import Argon2Hasher
from voltline_auth.adapters.mail import LogMailer, SmtpMailer
from voltline_auth.adapters.tokens_repo import TokenLookup
from voltline_auth.adapters.unit_of_work import SqlAuthUnitOfWork
from voltline_auth.domain.accounts import LockoutPolicy
from voltline_auth.domain.stations import BootPolicy
from voltline_auth.entrypoints import api_access, api_accounts, api_lists, api_stations, api_tokens
from voltline_auth.entrypoints.consumers import build_event_dispatcher, build_request_dispatcher
from voltline_auth.entrypoints.errors import PROBLEMS
from voltline_auth.service_layer import presence
from voltline_auth.service_layer.access import lookup_key, republish_keys
from voltline_auth.service_layer.account_ports import Mailer
from voltline_auth.service_layer.accounts import AccountsContext
from voltline_auth.service_layer.context import AuthContext
from voltline_auth.service_layer.decision_feed import DecisionFeed
from voltline_auth.service_layer.decisions import DecisionRecorder
from voltline_auth.service_layer.driver_keys import DriverKeyRing
from voltline_auth.service_layer.housekeeping import Housekeeping
from voltline_auth.service_layer.stations import republish_registry
from voltline_auth.service_layer.sync import StationSyncer
from voltline_auth.service_layer.token_cache import TokenCache
from voltline_auth.settings import AuthSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Longer than any redelivery can lag (Kafka's default retention is 7 days).
INBOX_KEPT = timedelta(days=8)
OUTBOX_KEPT = timedelta(days=7)
# Station events are many and nobody waits on auth's view of them: fetch them in fuller batches.
EVENTS_FETCH_WAIT_MS = 100


def _topics(settings: AuthSettings, topics: Topics) -> list[TopicSpec]:
    return [
        # As declared in voltline_events.topics (commands are kept an hour: a password change carries the password).
        TopicSpec.of(name)
        for name in (
            topics.station_registry,
            topics.api_keys,
            topics.auth_decisions,
            topics.auth_requests,
            Topics.dead_letter(topics.auth_requests),
            topics.station_events,
            topics.station_lifecycle,
            topics.sessions,
            topics.station_commands,
        )
    ]


def _mailer(settings: AuthSettings) -> Mailer:
    if settings.smtp_host is None:
        return LogMailer()
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        settings.smtp_username,
        settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        settings.smtp_starttls,
    )


def build(settings: AuthSettings, *, mailer: Mailer | None = None) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    infra = ServiceInfra.from_settings(settings, api_key_feed=False)
    topics = infra.topics
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", settings.instance_id)
    # Station commands' replies: nobody stands at a charger for them, so the reader long-polls (see the setting).
    replies = replace(infra.bus, request_fetch_wait_ms=settings.command_reply_fetch_wait_ms)
    rpc = RequestReplyClient(
        replies, infra.producer, topics.service_replies("auth", instance), reap_prefix=settings.topic_prefix
    )

    def uow() -> SqlAuthUnitOfWork:
        return SqlAuthUnitOfWork(infra.sessions, relay=infra.relay)

    reader = Reader(infra.engine)

    def clock() -> datetime:
        return datetime.now(UTC)

    retention = timedelta(days=settings.decision_log_retention_days)
    recorder = DecisionRecorder(uow, clock, retention=retention)
    lookup_tokens = TokenLookup(reader)

    async def send_decisions(records: list[TokenDecisions]) -> None:
        await infra.producer.publish_many(
            (topics.auth_decisions, envelope_for(record, source=infra.source), record.id_token.encode())
            for record in records
        )

    feed = DecisionFeed(
        lookup_tokens.views_by_key, lookup_tokens.keys_after, send_decisions, clock, match=settings.id_token_type_match
    )
    ctx = AuthContext(
        uow=uow,
        topics=topics,
        source=infra.source,
        clock=clock,
        tokens=TokenCache(lookup_tokens.views_by_key, ttl_s=settings.decision_cache_ttl_s),
        commands=KafkaStationCommands(rpc, topics, source=infra.source, timeout_s=settings.command_timeout_s),
        kick=lambda: syncer.kick(),
        settle=recorder.flush,
        cache_window=retention,
        boot_sync_delay=timedelta(seconds=settings.boot_sync_delay_s),
        type_match=settings.id_token_type_match,
        api_key_signing=record_signing_key(settings.admin_token.get_secret_value()) if settings.admin_token else None,
        decisions_published=feed.published,
    )
    ctx.tokens.listen(feed.changed)  # every token change republishes its Authorize answers for the gateways
    syncer = StationSyncer(
        ctx,
        poll_interval_s=settings.sync_poll_interval_s,
        lease_s=settings.sync_lease_s,
        concurrency=settings.sync_concurrency,
    )
    driver_keys = DriverKeyRing(ctx, uow)
    actx = AccountsContext(
        auth=ctx,
        uow=uow,
        mailer=mailer or _mailer(settings),
        hasher=Argon2Hasher(),
        tokens=driver_keys,
        access_ttl=timedelta(seconds=settings.driver_access_ttl_s),
        refresh_ttl=timedelta(days=settings.driver_refresh_ttl_days),
        lockout=LockoutPolicy(settings.driver_max_failed_logins, timedelta(seconds=settings.driver_lockout_s)),
    )
    policy = BootPolicy(settings.unknown_station_policy, settings.heartbeat_interval_s, settings.boot_retry_interval_s)
    # Requests are answered one by one, not in a batch transaction: each answer is a reply someone is
    # waiting for (the decision reads; its audit record is written by the recorder in its own batches).
    requests = infra.watch(
        EventConsumer(
            infra.bus,
            group_id=f"{settings.topic_prefix}voltline-auth",
            topics=[topics.auth_requests],
            handler=build_request_dispatcher(ctx, policy, infra.producer, recorder.record),
            dead_letter=infra.producer,
            # Answered at once, not after the broker's long-poll (tansu sleeps through part of it).
            consumer_options={"fetch_max_wait_ms": infra.bus.request_fetch_wait_ms},
        )
    )
    # Presence and the local answers' audit from the gateways' lifecycle copies (ADR 0037), not from every meter
    # reading; a group of its own, so the old group's offsets on the station stream are left behind whole.
    lifecycle = settings.presence_source == "lifecycle"
    events = infra.watch(
        EventConsumer(
            infra.bus,
            group_id=f"{settings.topic_prefix}voltline-auth-{'lifecycle' if lifecycle else 'events'}",
            topics=[topics.station_lifecycle if lifecycle else topics.station_events, topics.sessions],
            handler=build_event_dispatcher(ctx, recorder.record),
            dead_letter=infra.producer,
            fetch_wait_ms=EVENTS_FETCH_WAIT_MS,
            batch_scope=TransactionBatch(infra.sessions, inbox_consumer=presence.CONSUMER, relay=infra.relay),
            max_poll_records=settings.consumer_batch_size,
        )
    )

    async def purge_markers() -> int:
        async with uow() as tx:
            removed = await purge_inbox(tx.session, INBOX_KEPT)
            await tx.commit()
        return removed

    housekeeping = Housekeeping(
        [
            ("decision_log", recorder.purge),
            ("inbox", purge_markers),
            ("outbox", lambda: infra.relay.purge_published(OUTBOX_KEPT)),
        ]
    )

    async def lookup(key_hash: str) -> ApiKeyRecord | None:
        return await lookup_key(ctx, key_hash)

    async def after_broker_reset() -> None:
        await rpc.restart()
        await republish_registry(ctx)
        await republish_keys(ctx)
        await driver_keys.start()
        feed.changed(None)

    infra.on_broker_reset("auth", after_broker_reset)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await infra.start(MIGRATIONS, _topics(settings, topics))
        await rpc.start()
        await republish_registry(ctx)
        await republish_keys(ctx)
        await driver_keys.start()
        await recorder.start()
        await feed.start()
        await asyncio.gather(requests.start(), events.start())
        await syncer.start()
        await housekeeping.start()
        try:
            with tuned_gc(settings.gc_thresholds):  # as Infra.lifespan does for the other consuming services
                yield
        finally:
            await housekeeping.stop()
            await syncer.stop()
            await asyncio.gather(requests.stop(), events.stop())
            await feed.stop()
            await recorder.stop()
            await rpc.stop()
            reader.close()
            await infra.stop()

    app = create_app(
        settings=settings,
        title="voltline auth",
        version=VERSION,
        verifier=ChainVerifier(
            [
                StaticTokenVerifier(settings.admin_token),
                ApiKeyVerifier(lookup),
                DriverTokenVerifier(driver_keys.public_key),
            ]
        ),
        readiness_checks=infra.readiness_checks(),
        readiness_details=infra.readiness_details(),
        lifespan=lifespan,
        routers=[
            api_stations.build_router(ctx, syncer),
            api_tokens.build_router(ctx),
            api_lists.build_router(ctx),
            api_access.build_router(ctx),
            api_accounts.build_operator_router(actx),
        ],
        driver_routers=[api_accounts.build_public_router(actx)],
        public_routes=api_accounts.PUBLIC_ROUTES,
    )
    install_problem_mapping(app, PROBLEMS)
    app.state.command_replies = rpc  # what reads the stations' replies (tests check how it fetches)
    return app
