"""Where the analytics service is wired together. A skeleton: store, bus and health routes only so far."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra
from voltline_chassis.security import StaticTokenVerifier

from voltline_analytics.settings import AnalyticsSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION = "0.1.0"


def build(settings: AnalyticsSettings) -> FastAPI:
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    infra = ServiceInfra.from_settings(settings)
    return create_app(
        settings=settings,
        title="voltline analytics",
        version=VERSION,
        verifier=StaticTokenVerifier(settings.admin_token),
        readiness_checks=infra.readiness_checks(),
        lifespan=infra.lifespan(MIGRATIONS),
    )
