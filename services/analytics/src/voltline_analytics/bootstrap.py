"""Where the analytics service is wired together: the worker (a batch consumer by default) and the reports API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from voltline_bus import EventConsumer, TopicSpec
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.version import VERSION
from voltline_events import Topics

from voltline_analytics.adapters.batch_worker import BatchWorker
from voltline_analytics.adapters.faust_worker import FaustWorker, broker_credentials
from voltline_analytics.adapters.projection_store import StateCache
from voltline_analytics.domain.kpis import Co2Factors
from voltline_analytics.domain.translate import EVENT_TYPES
from voltline_analytics.entrypoints.api import build_router
from voltline_analytics.entrypoints.consumers import Coalescer, store_applier
from voltline_analytics.entrypoints.exports import build_exports_router
from voltline_analytics.entrypoints.report import build_report_router
from voltline_analytics.service_layer.context import AnalyticsContext
from voltline_analytics.settings import AnalyticsSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build(settings: AnalyticsSettings) -> FastAPI:
    infra = ServiceInfra.from_settings(settings)
    topics = infra.topics
    lateness = timedelta(days=settings.analytics_allowed_lateness_days)
    ctx = AnalyticsContext(
        sessions=infra.sessions,
        lateness=lateness,
        co2=Co2Factors(
            settings.analytics_co2_ice_g_per_km,
            settings.analytics_co2_ev_kwh_per_km,
            settings.analytics_co2_grid_g_per_kwh,
        ),
        default_currency=settings.analytics_default_currency,
        ad_hoc_price_per_kwh=settings.analytics_ad_hoc_price_per_kwh,
        ad_hoc_currency=settings.analytics_ad_hoc_currency,
    )
    read = [topics.sessions, topics.billing, topics.station_events, topics.diagnostics]
    group_id = f"{settings.topic_prefix}{settings.analytics_consumer_group}"
    cache = StateCache()  # only the batch worker clears it on a rebalance, so only it keeps one
    applier = store_applier(infra.sessions, lateness, cache if settings.analytics_worker == "batch" else None)
    worker: BatchWorker | FaustWorker | EventConsumer
    if settings.analytics_worker == "batch":
        worker = BatchWorker(
            infra.bus,
            group_id=group_id,
            topics=read,
            apply_batch=applier,
            dead_letter=infra.producer,
            batch_max=settings.analytics_batch_max,
            on_rebalance=cache.clear,
            event_types=EVENT_TYPES,
        )
    elif settings.analytics_worker == "faust":
        worker = FaustWorker(
            group_id=group_id,
            bootstrap=settings.kafka_bootstrap,
            topics=read,
            credentials=broker_credentials(infra.bus),
            apply_batch=applier,
            dead_letter=infra.producer,
            datadir=settings.analytics_faust_datadir,
            batch_max=settings.analytics_batch_max,
            # The same group timing as every other consumer (VOLTLINE_KAFKA_SESSION_TIMEOUT_MS).
            session_timeout_s=infra.bus.session_timeout_ms / 1000,
            heartbeat_interval_s=infra.bus.heartbeat_interval_ms() / 1000,
        )
    else:
        worker = EventConsumer(
            infra.bus,
            group_id=group_id,
            topics=read,
            handler=Coalescer(applier).handle,
            dead_letter=infra.producer,
            event_types=EVENT_TYPES,
            max_poll_records=500,
        )
    return create_app(
        settings=settings,
        title="voltline analytics",
        version=VERSION,
        verifier=infra.verifier(),
        readiness_checks=infra.readiness_checks(),
        lifespan=infra.lifespan(
            MIGRATIONS,
            [
                TopicSpec.of(topics.station_events),
                TopicSpec.of(topics.sessions),
                TopicSpec.of(topics.billing),
                TopicSpec.of(topics.diagnostics),
                *(TopicSpec(Topics.dead_letter(t)) for t in read),
            ],
            after_start=worker.start,
            before_stop=worker.stop,
        ),
        routers=[build_router(ctx), build_exports_router(ctx), build_report_router(ctx)],
    )
