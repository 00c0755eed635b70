"""Where the billing service is wired together. A skeleton: store, bus and health routes only so far."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.security import StaticTokenVerifier

from voltline_billing.settings import BillingSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION = "0.1.0"


def build(settings: BillingSettings) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    infra = ServiceInfra.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await infra.start(MIGRATIONS)
        try:
            yield
        finally:
            await infra.stop()

    return create_app(
        settings=settings,
        title="voltline billing",
        version=VERSION,
        verifier=StaticTokenVerifier(settings.admin_token),
        readiness_checks=infra.readiness_checks(),
        lifespan=lifespan,
    )
