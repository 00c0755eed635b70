"""Where the session service is wired together: settings in, a runnable app out."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from voltline_bus import EventConsumer, RequestReplyClient, TopicSpec
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.problems import install_problem_mapping
from voltline_chassis.version import VERSION
from voltline_events import Topics
from voltline_store import TransactionBatch, read_only_session_factory

from voltline_session.adapters.billing import BillingPaymentCheck
from voltline_session.adapters.billing_costs import BillingCosts
from voltline_session.adapters.bus import KafkaAuthorizer, KafkaCommandSender
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
from voltline_session.domain.energy import MeterPolicy
from voltline_session.entrypoints import api_me
from voltline_session.entrypoints.api import build_router
from voltline_session.entrypoints.consumers import build_dispatcher
from voltline_session.entrypoints.errors import PROBLEMS
from voltline_session.service_layer.context import CONSUMER, SessionContext
from voltline_session.service_layer.driver_sessions import NoPaymentCheck, PaymentCheck
from voltline_session.service_layer.endings import confirm_sessions
from voltline_session.service_layer.supervision import run_supervision
from voltline_session.settings import SessionSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build(settings: SessionSettings, *, payments: PaymentCheck | None = None) -> FastAPI:
    """`payments`: how a start from the app checks the driver can pay (default: ask billing, if configured)."""
    infra = ServiceInfra.from_settings(settings)
    topics = infra.topics
    readers = read_only_session_factory(infra.engine)
    ctx = SessionContext(
        uow=lambda: SqlSessionUnitOfWork(infra.sessions, relay=infra.relay),
        read_uow=lambda: SqlSessionUnitOfWork(readers),
        topics=topics,
        source=infra.source,
        clock=lambda: datetime.now(UTC),
        policy=MeterPolicy(max_power_w=Decimal(str(settings.max_power_kw)) * 1000),
        update_interval=timedelta(seconds=settings.session_update_interval_s),
        suspect_after=timedelta(seconds=settings.session_suspect_after_s),
        link_window=timedelta(seconds=settings.remote_start_link_window_s),
        end_grace=timedelta(seconds=settings.session_end_grace_s),
        silent_after=timedelta(seconds=settings.session_silent_after_s),
        confirm_grace=timedelta(seconds=settings.session_confirm_grace_s),
    )
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", settings.instance_id)
    rpc = RequestReplyClient(
        infra.bus, infra.producer, topics.service_replies("session", instance), reap_prefix=settings.topic_prefix
    )
    auth = KafkaAuthorizer(rpc, topics, source=infra.source, timeout_s=settings.auth_timeout_s)
    commands = KafkaCommandSender(
        rpc, topics, source=infra.source, timeout_s=settings.command_timeout_s, grace_s=settings.gateway_grace_s
    )
    if payments is None:
        payments = NoPaymentCheck()
        if settings.billing_url and settings.admin_token:
            payments = BillingPaymentCheck(settings.billing_url, settings.admin_token.get_secret_value())
    costs = None  # the cost so far comes from billing (ADR 0018); unknown without it
    if settings.billing_url and settings.admin_token:
        costs = BillingCosts(settings.billing_url, settings.admin_token.get_secret_value())
    consumer = infra.watch(
        EventConsumer(
            infra.bus,
            group_id=f"{settings.topic_prefix}voltline-session",
            topics=[topics.station_events],
            handler=build_dispatcher(ctx),
            dead_letter=infra.producer,
            # One transaction per fetched batch per partition; the inbox markers go in one statement.
            batch_scope=TransactionBatch(infra.sessions, inbox_consumer=CONSUMER, relay=infra.relay),
            max_poll_records=settings.consumer_batch_size,
            batch_max_s=settings.session_batch_max_s,
            merge_partitions=settings.consumer_batch_lanes,
            pipeline_partitions=settings.pipelines_partitions(),
        )
    )
    tasks: list[asyncio.Task[None]] = []
    infra.on_broker_reset("replies", rpc.restart)

    async def housekeeping() -> None:
        """Forget old inbox markers and published outbox rows (hourly, from the supervision loop)."""
        async with SqlSessionUnitOfWork(infra.sessions) as uow:
            await uow.purge_inbox(timedelta(days=settings.inbox_retention_days))
            await uow.commit()
        await infra.relay.purge_published(timedelta(days=7))

    async def after_start() -> None:
        await rpc.start()
        await consumer.start()
        supervision = run_supervision(
            ctx,
            interval=settings.session_suspect_check_interval_s,
            housekeeping=housekeeping,
            confirm=lambda: confirm_sessions(ctx, commands),
        )
        tasks.append(asyncio.create_task(supervision, name="session-supervision"))

    async def before_stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
        await rpc.stop()
        if isinstance(payments, BillingPaymentCheck):
            await payments.close()
        if costs is not None:
            await costs.close()

    app = create_app(
        settings=settings,
        title="voltline session",
        version=VERSION,
        verifier=infra.verifier(),
        readiness_checks=infra.readiness_checks(),
        readiness_details=infra.readiness_details(),
        lifespan=infra.lifespan(
            MIGRATIONS,
            [  # as declared in voltline_events.topics
                TopicSpec.of(topics.station_events),
                TopicSpec.of(topics.sessions),
                TopicSpec.of(topics.station_commands),
                TopicSpec.of(topics.auth_requests),
                TopicSpec.of(Topics.dead_letter(topics.station_events)),
            ],
            after_start=after_start,
            before_stop=before_stop,
        ),
        routers=[build_router(ctx, auth, commands)],
        driver_routers=[api_me.build_router(ctx, auth, commands, payments, settings.driver_stream_interval_s, costs)],
    )
    install_problem_mapping(app, PROBLEMS)
    return app
