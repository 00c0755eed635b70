"""Where the diagnostics service is wired together. A skeleton: store, bus and health routes only so far."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from voltline_chassis.app import create_app
from voltline_chassis.infra import ServiceInfra

from voltline_diagnostics.maintenance import build_maintenance
from voltline_diagnostics.settings import DiagnosticsSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION = "0.1.0"


def build(settings: DiagnosticsSettings) -> FastAPI:
    infra = ServiceInfra.from_settings(settings)
    maintenance = build_maintenance(settings, infra)
    app = create_app(
        settings=settings,
        title="voltline diagnostics",
        version=VERSION,
        verifier=infra.verifier(),
        readiness_checks=infra.readiness_checks(),
        lifespan=infra.lifespan(
            MIGRATIONS, maintenance.topics, after_start=maintenance.start, before_stop=maintenance.stop
        ),
        routers=maintenance.api_routers,
    )
    for router in maintenance.open_routers:
        app.include_router(router)
    return app
