"""Where the gateway is wired together: settings in, a runnable app (HTTP API + OCPP servers) out."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import resource
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from voltline_bus import (
    BrokerWatch,
    BusConfig,
    Producer,
    RequestReplyClient,
    TopicSpec,
    check_broker,
    ensure_topics,
    reply,
)
from voltline_chassis.api_keys import ApiKeyVerifier
from voltline_chassis.app import create_app
from voltline_chassis.infra import api_key_feed_for, bus_config
from voltline_chassis.security import ChainVerifier, StaticTokenVerifier
from voltline_chassis.version import VERSION
from voltline_events import Envelope, Topics
from voltline_events.payloads.commands import StationCommandResult

from voltline_gateway.actions import ROUTES
from voltline_gateway.actions.context import AuthFallbacks, BootFallback, Policy
from voltline_gateway.actions.outbound import COMMANDS
from voltline_gateway.adapters.batch_writer import BatchWriter
from voltline_gateway.adapters.bus import KafkaStationBus
from voltline_gateway.adapters.connection import StationGone
from voltline_gateway.adapters.consumed import ConsumedPoller
from voltline_gateway.adapters.credentials import CredentialRefresher
from voltline_gateway.adapters.decision_table import DecisionTable
from voltline_gateway.adapters.lag_watch import ConsumerLag, LagWatch
from voltline_gateway.adapters.ocpp_server import Connections, Limits, Listener, OcppServer
from voltline_gateway.adapters.presence import PresenceBook, PresencePublisher
from voltline_gateway.adapters.refusals import RefusalLog
from voltline_gateway.adapters.registry import PasswordChecker, StationRegistry
from voltline_gateway.adapters.spool import Spool
from voltline_gateway.adapters.tail import TopicTail
from voltline_gateway.adapters.tls import CertificatePair, CertificateReloader, server_context
from voltline_gateway.adapters.upgrade import AttemptLimits, UpgradeCheck
from voltline_gateway.adapters.validation import violation, warm_up
from voltline_gateway.domain.flow import FlowPolicy, Throttle
from voltline_gateway.domain.quirks import QuirkRules
from voltline_gateway.entrypoints.api import build_router
from voltline_gateway.metrics import FD_LIMIT
from voltline_gateway.service_layer.announce import ConnectionEvents
from voltline_gateway.service_layer.commands import CommandExecutor
from voltline_gateway.service_layer.dispatch import Dispatcher
from voltline_gateway.service_layer.flow import FlowGate
from voltline_gateway.settings import GatewaySettings

FDS_FOR_50K_STATIONS = 50_100
log = structlog.get_logger()


@dataclass(frozen=True)
class Internals:
    """The running parts, for diagnostics and tests (app.state.gateway)."""

    server: OcppServer
    connections: Connections
    registry: StationRegistry
    presence: PresenceBook
    instance: str
    tls_reloader: CertificateReloader | None = None
    command_tail: TopicTail | None = None
    lag_watch: LagWatch | None = None


def tune_gc(thresholds: tuple[int, int, int]) -> None:
    """Fewer, larger collections: every frame allocates dozens of short-lived containers, and with CPython's
    defaults the collector ran every few messages. What exists after start-up (modules, compiled schemas)
    lives as long as the process, so it is frozen out of every future collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


def raise_fd_limit() -> int:
    """Every station holds a socket: lift the soft limit on open files to the hard one, and say what it allows.

    The hard limit is the operator's to raise (`ulimit -n`, systemd `LimitNOFILE`, the container runtime);
    50,000 stations need about 50,100.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    FD_LIMIT.set(soft)
    if soft < FDS_FOR_50K_STATIONS:
        log.warning("open file limit caps this gateway's stations", fd_limit=soft, stations_at_most=soft - 100)
    return soft


def policy_from(settings: GatewaySettings) -> Policy:
    stop = settings.stop_transaction_fallback_status
    return Policy(
        boot=BootFallback(settings.boot_fallback_status, settings.boot_fallback_interval_s),
        auth=AuthFallbacks(
            authorize=settings.authorize_fallback_status,
            start_transaction=settings.start_transaction_fallback_status,
            transaction_event=settings.transaction_event_fallback_status,
            stop_transaction=None if stop == "omit" else stop,
        ),
        data_transfer_vendors=frozenset(settings.data_transfer_vendors),
    )


def flow_control(
    settings: GatewaySettings, kafka: BusConfig, topics: Topics
) -> tuple[FlowGate | None, LagWatch | None]:
    """ADR 0027: the lag of every consumer group of this installation on the topics station traffic feeds
    (directly, and one hop on: sessions, billing, diagnostics), read from the broker, sets the hold."""
    if not settings.flow_control:
        return None, None
    policy = FlowPolicy(
        lag_high=settings.flow_lag_high,
        lag_low=settings.flow_lag_low,
        max_hold_s=settings.flow_max_hold_s,
        min_hold_s=min(0.05, settings.flow_max_hold_s),
    )
    throttle = Throttle(policy)
    watched = [topics.station_events, topics.sessions, topics.billing, topics.diagnostics]
    source = ConsumerLag(
        kafka,
        watched,
        group_prefix=settings.topic_prefix,
        ignored=settings.flow_ignored_groups,
        discover_every_s=10 * settings.flow_poll_interval_s,
    )
    watch = LagWatch(source, throttle, interval=settings.flow_poll_interval_s, stall_s=settings.flow_stall_s)
    return FlowGate(throttle, settings.flow_deferrable_actions), watch


def build(settings: GatewaySettings) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    topics = Topics(settings.topic_prefix)
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", settings.instance_id)
    source = f"gateway/{instance}"
    kafka = bus_config(settings, source)
    producer = Producer(kafka)  # liveness beats and command results; station traffic goes through the writers
    reply_topic = topics.gateway_replies(instance)
    spool = Spool(settings.spool_dir, keep_s=settings.spool_keep_s) if settings.spool_dir is not None else None
    # Station events and their lifecycle copies (ADR 0037) are spooled alike: a restarted broker gets both again.
    spooled = [topics.station_events, topics.station_lifecycle]
    writer = BatchWriter(kafka, spool=spool, spooled_topics=frozenset(spooled), linger_ms=settings.event_linger_ms)
    watch = BrokerWatch(
        kafka, interval=settings.broker_watch_interval_s, handler_timeout=settings.broker_reset_timeout_s
    )
    consumed = ConsumedPoller(kafka, spool, spooled) if spool is not None else None
    # Requests to the auth service have a writer (a Kafka producer) of their own: a producer has one request in
    # flight per broker, and an Authorize must not wait for a batch of events to be acknowledged before it leaves.
    # It offers what the client uses of a Producer (publish, partitions_for).
    request_writer = BatchWriter(kafka, name="requests")
    rpc = RequestReplyClient(
        kafka, request_writer, reply_topic, keepalive_producer=producer, reap_prefix=settings.topic_prefix
    )
    bus = KafkaStationBus(
        writer,
        rpc,
        topics,
        source=source,
        auth_timeout=settings.auth_timeout_s,
        publish_timeout=settings.publish_timeout_s,
    )
    api_keys = api_key_feed_for(settings, kafka)  # operators' API keys, as every service accepts them
    connections = Connections()
    registry = StationRegistry()
    presence = PresenceBook(instance, holds=connections.holds)
    publisher = PresencePublisher(
        producer, bus, topics, me=instance, source=source, interval=settings.presence_interval_s
    )
    events = ConnectionEvents(bus, publisher, instance=instance, timeout=settings.publish_timeout_s)
    background: set[asyncio.Task[None]] = set()

    def reassert(station_id: str) -> None:
        conn = connections.get(station_id)
        if conn is not None:
            task = asyncio.get_running_loop().create_task(events.reassert(conn))
            background.add(task)
            task.add_done_callback(background.discard)

    presence.reassert = reassert

    async def answer_command(request: Envelope, result: StationCommandResult) -> None:
        async with asyncio.timeout(settings.publish_timeout_s):
            await reply(producer, request, result, source=source)

    executor = CommandExecutor(
        connections, presence, COMMANDS, answer_command, station_gone=StationGone, schemas=violation
    )
    registry_tail = TopicTail(kafka, producer, topics.station_registry, registry.apply, from_beginning=True)
    presence_tail = TopicTail(kafka, producer, topics.gateway_presence, presence.apply, from_beginning=True)
    # Auth's published Authorize answers (ADR 0015): a revocation must arrive within tens of milliseconds, without
    # the gateway and the broker waking a hundred times a second for an idle topic (tail_fetch_wait_ms).
    decisions = DecisionTable()
    decision_tail = TopicTail(
        kafka,
        producer,
        topics.auth_decisions,
        decisions.apply,
        from_beginning=True,
        fetch_max_wait_ms=settings.tail_fetch_wait_ms,
    )
    decisions.caught_up = decision_tail.caught_up
    # An operator (or the session service's remote start) waits on each command: read without the long poll.
    command_tail = TopicTail(
        kafka,
        producer,
        topics.station_commands,
        executor.submit,
        from_beginning=False,
        fetch_max_wait_ms=settings.tail_fetch_wait_ms,
    )
    flow, lag_watch = flow_control(settings, kafka, topics)
    listeners = [Listener(settings.ocpp_host, settings.ocpp_port)]
    reloader: CertificateReloader | None = None
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        pairs = [CertificatePair(settings.tls_cert_file, settings.tls_key_file)]
        if settings.tls_second_cert_file is not None and settings.tls_second_key_file is not None:
            pairs.append(CertificatePair(settings.tls_second_cert_file, settings.tls_second_key_file))
        tls = server_context(settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file, extra=pairs[1:])
        reloader = CertificateReloader(tls, pairs, settings.tls_ca_file, interval=settings.tls_reload_interval_s)
        listeners.append(Listener(settings.ocpp_host, settings.ocpp_tls_port, tls))
    server = OcppServer(
        listeners=listeners,
        dispatcher=Dispatcher(
            ROUTES,
            COMMANDS,
            bus,
            policy_from(settings),
            schemas=violation,
            decisions=decisions if settings.local_authorize else None,
            flow=flow,
        ),
        connections=connections,
        upgrade=UpgradeCheck(
            registry,
            PasswordChecker(concurrency=settings.legacy_password_checks, queue=settings.legacy_password_queue),
            unknown=settings.gateway_unknown_stations,
            registry_grace=settings.registry_grace_s,
            limits=AttemptLimits(
                per_address=settings.failed_attempts_per_address,
                per_station=settings.failed_attempts_per_station,
                window_s=settings.failed_attempts_window_s,
            ),
            refresher=CredentialRefresher(
                lambda request, station_id: bus.ask_auth(request, station_id=station_id),
                registry,
                min_interval=settings.credential_refresh_interval_s,
            ),
            refusals=RefusalLog(per_second=settings.refusal_log_per_second),
        ),
        registry=registry,
        rules=QuirkRules(settings.quirks),
        limits=Limits(
            accept_backlog=settings.accept_backlog,
            max_frame_bytes=settings.max_frame_bytes,
            ping_interval=settings.ping_interval_s,
            ping_timeout=settings.ping_timeout_s,
            close_timeout=settings.close_timeout_s,
            frames_per_second=settings.frames_per_second,
            frame_burst=settings.frame_burst,
            flood_close_after=settings.flood_close_after,
            handshake_timeout=settings.handshake_timeout_s,
        ),
        announcer=events,
    )

    specs = [  # as declared in voltline_events.topics
        TopicSpec.of(name)
        for name in (
            topics.station_events,
            topics.station_lifecycle,
            topics.auth_requests,
            topics.station_registry,
            topics.auth_decisions,
            topics.gateway_presence,
            topics.station_commands,
            reply_topic,
        )
    ]

    async def replay_spool() -> None:
        """Give a broker that came back empty what it had acknowledged (consumers drop what they had)."""
        if spool is None or watch.cluster_id is None:
            return
        if spool.epoch() not in (None, watch.cluster_id):
            sent = await writer.replay()
            log.warning("spooled station events sent again to the restarted broker", events=sent)
        spool.set_epoch(watch.cluster_id)

    async def after_broker_reset() -> None:
        await ensure_topics(kafka, specs)
        await replay_spool()
        decisions.clear()  # the auth service republishes them; until they are read again, Authorize asks it
        for tail in (registry_tail, presence_tail, decision_tail, command_tail):
            await tail.restart()
        await rpc.restart()
        for conn in connections.all():
            await events.reassert(conn)

    watch.on_reset("gateway", after_broker_reset)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(kafka, specs)
        async with AsyncExitStack() as stack:
            if spool is not None:
                spool.open()
                stack.callback(spool.close)
            await producer.start()
            stack.push_async_callback(producer.stop)
            await writer.start([*spooled, topics.gateway_presence])
            stack.push_async_callback(writer.stop)
            await request_writer.start([topics.auth_requests])
            stack.push_async_callback(request_writer.stop)
            await watch.start()
            stack.push_async_callback(watch.stop)
            await replay_spool()  # the broker may have restarted while this gateway was down
            if consumed is not None:
                await consumed.start()
                stack.push_async_callback(consumed.stop)
            await rpc.start()
            stack.push_async_callback(rpc.stop)
            await api_keys.start()
            stack.push_async_callback(api_keys.stop)
            for tail in (registry_tail, presence_tail, decision_tail):
                await tail.start()
                stack.push_async_callback(tail.stop)
            try:
                async with asyncio.timeout(settings.registry_catchup_timeout_s):
                    await registry_tail.caught_up.wait()
            except TimeoutError:
                log.warning("registry not caught up yet; starting anyway (not ready until it is)")
            await publisher.start()
            stack.push_async_callback(publisher.stop)
            await command_tail.start()
            stack.push_async_callback(command_tail.stop)
            stack.push_async_callback(executor.stop)
            for version, routes in ROUTES.items():
                warm_up(version, list(routes))
            tune_gc(settings.gc_thresholds)
            raise_fd_limit()
            if lag_watch is not None:
                await lag_watch.start()
                stack.push_async_callback(lag_watch.stop)
            await server.start()
            stack.push_async_callback(server.stop)
            if reloader is not None:
                await reloader.start()
                stack.push_async_callback(reloader.stop)
            app.state.gateway = Internals(
                server, connections, registry, presence, instance, reloader, command_tail, lag_watch
            )
            yield

    async def registry_ready() -> None:
        if not registry_tail.caught_up.is_set():
            raise RuntimeError("still reading the station registry")

    return create_app(
        settings=settings,
        title="voltline gateway",
        version=VERSION,
        verifier=ChainVerifier([StaticTokenVerifier(settings.admin_token), ApiKeyVerifier(api_keys.lookup)]),
        readiness_checks={
            "kafka": lambda: check_broker(kafka),
            "registry": registry_ready,
            "api_keys": api_keys.check,
        },
        lifespan=lifespan,
        routers=[build_router(connections, presence, instance)],
    )
