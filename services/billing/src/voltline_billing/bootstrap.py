"""Where the billing service is wired together: settings in, a runnable app out."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from voltline_bus import EventConsumer, RequestReplyClient, TopicSpec
from voltline_chassis import VERSION, get_logger
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.mail import LogMailer, SmtpMailer
from voltline_chassis.problems import install_problem_mapping
from voltline_events import Topics
from voltline_store import TransactionBatch

from voltline_billing.adapters import pdf
from voltline_billing.adapters.cost_repository import SqlCostUnitOfWork
from voltline_billing.adapters.guest_starts import HttpGuestStarts
from voltline_billing.adapters.sandbox_provider import SandboxProvider
from voltline_billing.adapters.station_display import KafkaStationDisplay
from voltline_billing.adapters.stripe_provider import StripeProvider
from voltline_billing.adapters.unit_of_work import SqlBillingUnitOfWork
from voltline_billing.domain.receipts import Seller
from voltline_billing.entrypoints.api import build_routers, estimate, me
from voltline_billing.entrypoints.api.errors import PROBLEMS
from voltline_billing.entrypoints.consumers import build_dispatcher
from voltline_billing.entrypoints.cost_consumer import build_cost_dispatcher
from voltline_billing.entrypoints.pay_pages import build_qr_router, mount_pay_pages
from voltline_billing.service_layer.adhoc import release_unstarted
from voltline_billing.service_layer.context import AdhocPorts, BillingConfig, BillingContext
from voltline_billing.service_layer.costs import CostsContext
from voltline_billing.service_layer.later import Later
from voltline_billing.service_layer.payments import drive_pending
from voltline_billing.service_layer.ports import GuestStarts, Mailer, PaymentProvider
from voltline_billing.service_layer.tariff_feed import republish_tariffs
from voltline_billing.settings import BillingSettings

# Billing's own consumer handles every session event in batches: the provider calls that follow starts and ends
# run after the batch has committed (service_layer/later.py). Kept (empty) for what imported it.
SOLO_EVENTS: tuple[str, ...] = ()
# The cost consumer's events that message a station (a reply awaited, up to cost_command_timeout_s).
COST_SOLO_EVENTS = ("billing.session_cost_updated",)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = get_logger(__name__)


def payment_provider(settings: BillingSettings) -> PaymentProvider:
    if settings.payment_provider == "stripe":
        if settings.stripe_api_key is None:
            raise ValueError("VOLTLINE_STRIPE_API_KEY must be set with VOLTLINE_PAYMENT_PROVIDER=stripe")
        key = settings.stripe_api_key.get_secret_value()
        return StripeProvider(key, api_base=settings.stripe_api_base, timeout_s=settings.provider_timeout_s)
    return SandboxProvider()


def mailer(settings: BillingSettings) -> Mailer:
    if not settings.smtp_host:
        return LogMailer()
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_sender, settings.smtp_username,
                      password, settings.smtp_starttls)  # fmt: skip


def adhoc_ports(settings: BillingSettings, starts: GuestStarts | None, mail: Mailer | None) -> AdhocPorts | None:
    """Guests can pay when billing can reach auth and session (or a test gives the ports)."""
    if starts is None and settings.auth_url and settings.session_url and settings.admin_token:
        starts = HttpGuestStarts(settings.auth_url, settings.session_url, settings.admin_token.get_secret_value())
    if starts is None:
        return None
    return AdhocPorts(starts, mail or mailer(settings), dict(settings.adhoc_hold_amount),
                      settings.adhoc_start_timeout_s)  # fmt: skip


def build(
    settings: BillingSettings,
    provider: PaymentProvider | None = None,
    guest_starts: GuestStarts | None = None,
    mail: Mailer | None = None,
) -> FastAPI:
    infra = ServiceInfra.from_settings(settings)
    topics = infra.topics
    provider = provider or payment_provider(settings)
    ctx = BillingContext(
        uow=lambda: SqlBillingUnitOfWork(infra.sessions, relay=infra.relay),
        topics=topics,
        source=infra.source,
        clock=lambda: datetime.now(UTC),
        provider=provider,
        config=BillingConfig(
            default_currency=settings.default_currency,
            card_hold_amount=settings.card_hold_amount,
            provider_timeout_s=settings.provider_timeout_s,
            ocpi_country_code=settings.ocpi_country_code,
            ocpi_party_id=settings.ocpi_party_id,
        ),
        adhoc=adhoc_ports(settings, guest_starts, mail),
        later=Later(),
    )
    instance = re.sub(r"[^a-zA-Z0-9._-]", "-", settings.instance_id)
    rpc = RequestReplyClient(infra.bus, infra.producer, topics.service_replies("billing", instance))
    infra.on_broker_reset("replies", rpc.restart)
    costs = CostsContext(
        uow=lambda: SqlCostUnitOfWork(infra.sessions, relay=infra.relay),
        topics=topics,
        source=infra.source,
        clock=ctx.clock,
        display=KafkaStationDisplay(rpc, topics, source=infra.source, timeout_s=settings.cost_command_timeout_s),
        interval=timedelta(seconds=settings.cost_update_interval_s),
        later=Later(),  # its own lanes: a slow station never delays a payment's provider call
    )
    consumer = infra.watch(
        EventConsumer(
            infra.bus,
            group_id=f"{settings.topic_prefix}voltline-billing",
            topics=[topics.sessions],
            # The session events once, for the CDR path and the cost path (ADR 0030).
            handler=build_dispatcher(ctx, costs if settings.cost_messages else None),
            dead_letter=infra.producer,
            # Every session event in batches (one transaction each); the provider calls of starts and ends, and
            # the station messages of starts, run once their batch has committed (`Later`), so a failed batch never
            # repeats them and a batch's transaction never waits on a provider or a station.
            batch_scope=TransactionBatch(infra.sessions, relay=infra.relay),  # updates need no inbox marker
            max_poll_records=settings.consumer_batch_size,
        )
    )
    cost_consumer = infra.watch(
        EventConsumer(
            infra.bus,
            group_id=f"{settings.topic_prefix}voltline-billing-costs",
            topics=[topics.billing],
            handler=build_cost_dispatcher(costs),
            dead_letter=infra.producer,
            batch_scope=TransactionBatch(infra.sessions, relay=infra.relay),
            # A cost to show messages its station and awaits the answer: alone, between batches.
            solo_types=COST_SOLO_EVENTS,
            max_poll_records=settings.consumer_batch_size,
        )
    )
    worker: list[asyncio.Task[None]] = []

    async def retry_payments() -> None:
        while True:
            await asyncio.sleep(settings.payment_retry_interval_s)
            try:
                await drive_pending(ctx)
                if ctx.adhoc is not None:
                    await release_unstarted(ctx, ctx.adhoc.start_timeout_s)
            except Exception as exc:
                log.warning("payment_worker_pass_failed", error=repr(exc))

    async def republish() -> None:
        log.info("tariffs_republished", records=await republish_tariffs(ctx))

    infra.on_broker_reset("tariffs", republish)

    async def after_start() -> None:
        await republish()
        if settings.cost_messages:
            await rpc.start()  # before the consumer: starts may message stations
        await consumer.start()
        if settings.cost_messages:
            await cost_consumer.start()
        if settings.payment_retry_interval_s > 0:
            worker.append(asyncio.create_task(retry_payments(), name="billing-payment-worker"))

    async def before_stop() -> None:
        if ctx.adhoc is not None and isinstance(ctx.adhoc.starts, HttpGuestStarts):
            await ctx.adhoc.starts.close()
        for task in worker:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
        for later in (ctx.later, costs.later):
            if later is not None:
                await later.close()
        if settings.cost_messages:
            await cost_consumer.stop()
            await rpc.stop()

    seller = Seller(settings.seller_name, settings.seller_address, settings.seller_vat_id)
    app = create_app(
        settings=settings,
        title="voltline billing",
        version=VERSION,
        verifier=infra.verifier(),
        readiness_checks=infra.readiness_checks(),
        readiness_details=infra.readiness_details(),
        lifespan=infra.lifespan(
            MIGRATIONS,
            [
                TopicSpec.of(t)
                for t in (
                    topics.sessions,
                    Topics.dead_letter(topics.sessions),
                    topics.billing,
                    topics.tariffs,
                    Topics.dead_letter(topics.billing),
                    topics.station_commands,
                )
            ],
            after_start=after_start,
            before_stop=before_stop,
        ),
        routers=[
            *build_routers(ctx, provider if isinstance(provider, SandboxProvider) else None),
            build_qr_router(settings.public_url or f"http://{settings.http_host}:{settings.http_port}"),
        ],
        driver_routers=[me.build_router(ctx, seller, pdf.receipt_pdf, pdf.invoice_pdf), estimate.build_router(ctx)],
        public_routes=[("GET", f"/api/v1{estimate.PATH}")],
    )
    install_problem_mapping(app, PROBLEMS)
    mount_pay_pages(app, ctx, provider.name, settings.stripe_publishable_key, settings.adhoc_max_attempts_per_hour)
    app.state.billing = ctx
    return app
