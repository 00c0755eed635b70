"""Build a service's FastAPI app with the chassis conventions baked in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from voltline_chassis.health import (
    DEFAULT_CHECK_TIMEOUT,
    ReadinessCheck,
    ReadinessDetail,
    evaluate_readiness,
    health_router,
)
from voltline_chassis.http_limits import BodyLimitMiddleware
from voltline_chassis.logging import configure_logging, get_logger
from voltline_chassis.metrics import SERVICE_INFO, SERVICE_READY, metrics_endpoint
from voltline_chassis.middleware import RequestObservabilityMiddleware
from voltline_chassis.problems import PROBLEM_RESPONSES, install_problem_handlers
from voltline_chassis.security import BearerAuthGate, TokenVerifier, require_role
from voltline_chassis.settings import ServiceSettings
from voltline_chassis.tracing import configure_tracing, fastapi_telemetry, shutdown_tracing

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]
API_PREFIX = "/api/v1"

log = get_logger(__name__)


def _wrap_lifespan(settings: ServiceSettings, version: str, inner: Lifespan | None) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        log.info("service_starting", version=version, instance_id=settings.instance_id)
        if inner is None:
            log.info("service_started")
            yield None
        else:
            async with inner(app) as state:
                log.info("service_started")
                yield state
        shutdown_tracing()
        log.info("service_stopped")

    return lifespan


class _ReadinessGauge:
    """Readiness as a metric, so Prometheus can alert on "not ready" without probing /readyz itself.

    A scrape starts a re-check in the background (at most every ``every_s``) and answers at once with the
    last result: a slow dependency must not make the scrape time out, which would read as "service down".
    """

    def __init__(self, service: str, checks: Mapping[str, ReadinessCheck], limit_s: float, every_s: float) -> None:
        self._service, self._checks, self._limit_s, self._every_s = service, dict(checks), limit_s, every_s
        self._started_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        now = time.monotonic()
        if self._task is not None and not self._task.done():
            return
        if self._started_at is not None and now - self._started_at < self._every_s:
            return
        self._started_at = now
        self._task = asyncio.create_task(self._check(), name="readiness-metric")

    async def _check(self) -> None:
        results = await evaluate_readiness(self._checks, self._limit_s)
        SERVICE_READY.labels(self._service).set(0 if any(results.values()) else 1)


def create_app(
    *,
    settings: ServiceSettings,
    title: str,
    version: str,
    verifier: TokenVerifier,
    readiness_checks: Mapping[str, ReadinessCheck],
    lifespan: Lifespan | None = None,
    routers: Sequence[APIRouter] = (),
    readiness_timeout: float = DEFAULT_CHECK_TIMEOUT,
    configure_logs: bool = True,
    readiness_details: Mapping[str, ReadinessDetail] | None = None,
    readiness_metric_every_s: float = 10.0,
    driver_routers: Sequence[APIRouter] = (),
    public_routes: Sequence[tuple[str, str]] = (),
) -> FastAPI:
    """Assemble the app: ops endpoints open, every ``routers`` route under ``/api/v1`` behind a token.

    Routers get a baseline ``viewer`` requirement; declare ``operator``/``admin`` per route with
    ``require_role``. ``lifespan`` is a FastAPI-style ``(app) -> async context manager`` that owns the
    service's resources (DB engine, Kafka clients); what it yields becomes ``request.state``.
    ``readiness_details`` are shown under ``details`` in ``/readyz`` without deciding readiness.
    ``voltline_service_ready`` re-runs the checks at a scrape of ``/metrics`` at most every
    ``readiness_metric_every_s`` (a broker check opens a connection: not at every scrape).
    ``driver_routers`` get no role baseline: their routes depend on ``driver_tokens.current_driver`` (or are
    listed in ``public_routes``, ``(method, full path)`` pairs served without any token).
    """
    if configure_logs:
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name)

    app = FastAPI(
        title=title,
        version=version,
        lifespan=_wrap_lifespan(settings, version, lifespan),
        redoc_url=None,
        telemetry=fastapi_telemetry(),
    )
    app.state.settings = settings
    app.state.token_verifier = verifier

    install_problem_handlers(app)
    app.include_router(health_router(readiness_checks, readiness_timeout, readiness_details))
    readiness = _ReadinessGauge(settings.service_name, readiness_checks, readiness_timeout, readiness_metric_every_s)

    async def metrics_with_readiness(request: Request) -> Response:
        readiness.refresh()
        return await metrics_endpoint(request)

    app.add_route("/metrics", metrics_with_readiness, methods=["GET"], include_in_schema=False)
    for router in routers:
        app.include_router(
            router,
            prefix=API_PREFIX,
            dependencies=[Depends(require_role("viewer"))],
            responses=PROBLEM_RESPONSES,
        )

    for router in driver_routers:
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)

    # add_middleware prepends: the gate runs inside the observability middleware, so rejected
    # requests are still logged, counted and carry a request id.
    app.add_middleware(BearerAuthGate, verifier=verifier, prefix=API_PREFIX, public=public_routes)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.http_max_body_bytes,
        streaming_paths=tuple(settings.http_streaming_paths),
    )
    app.add_middleware(RequestObservabilityMiddleware, service=settings.service_name)

    SERVICE_INFO.labels(settings.service_name, version, settings.instance_id).set(1)
    return app
