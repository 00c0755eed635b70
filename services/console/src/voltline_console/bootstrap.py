"""Where the console is wired: the key feed, the services' APIs, the session store and the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from voltline_bus import check_broker
from voltline_chassis.api_keys import ApiKeyVerifier
from voltline_chassis.app import create_app
from voltline_chassis.infra import api_key_feed_for, bus_config
from voltline_chassis.security import ChainVerifier, StaticTokenVerifier
from voltline_chassis.version import VERSION

from voltline_console.adapters.backend import HttpServiceApi
from voltline_console.adapters.keys import ChassisKeyCheck
from voltline_console.adapters.sessions import MemorySessionStore
from voltline_console.entrypoints.billing_routes import build_billing_router
from voltline_console.entrypoints.login_routes import build_login_router
from voltline_console.entrypoints.ops_routes import build_ops_router
from voltline_console.entrypoints.pages import build_pages_router
from voltline_console.entrypoints.people_routes import build_people_router
from voltline_console.entrypoints.rendering import (
    COOKIE,
    PACKAGE,
    BadCsrf,
    Forbidden,
    LoginRequired,
    login_redirect,
    render,
)
from voltline_console.entrypoints.session_routes import build_session_router
from voltline_console.entrypoints.site_routes import build_site_router
from voltline_console.entrypoints.station_routes import build_station_router
from voltline_console.service_layer.login import LoginService
from voltline_console.service_layer.ports import KeyCheck, ServiceApi
from voltline_console.service_layer.views import KeyRevoked
from voltline_console.settings import ConsoleSettings


def build(settings: ConsoleSettings, *, keys: KeyCheck | None = None, api: ServiceApi | None = None) -> FastAPI:
    """`keys` and `api` replace the key feed and the HTTP clients (the page tests use fakes of both)."""
    if settings.admin_token is None:
        raise ValueError("VOLTLINE_ADMIN_TOKEN must be set (the bootstrap admin token)")
    bus = bus_config(settings, f"{settings.service_name}/{settings.instance_id}")
    feed = api_key_feed_for(settings, bus) if keys is None else None
    verifier = ChainVerifier(
        [StaticTokenVerifier(settings.admin_token), *([ApiKeyVerifier(feed.lookup)] if feed is not None else [])]
    )
    http_api = HttpServiceApi(settings.service_urls(), settings.console_backend_timeout_s) if api is None else None
    store = MemorySessionStore(settings.console_max_sessions)
    logins = LoginService(
        keys or ChassisKeyCheck(verifier),
        store,
        idle=timedelta(seconds=settings.console_session_idle_s),
        max_age=timedelta(seconds=settings.console_session_max_s),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if feed is not None:
            await feed.start()
        try:
            yield
        finally:
            if feed is not None:
                await feed.stop()
            if http_api is not None:
                await http_api.close()

    checks = {"kafka": lambda: check_broker(bus)}
    if feed is not None:
        checks["api_keys"] = feed.check
    app = create_app(
        settings=settings,
        title="voltline console",
        version=VERSION,
        verifier=verifier,
        readiness_checks=checks if feed is not None else {},
        lifespan=lifespan,
    )
    app.state.logins = logins
    app.state.api = api or http_api
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")
    app.include_router(build_login_router())
    app.include_router(build_pages_router())
    app.include_router(build_station_router())
    app.include_router(build_session_router())
    app.include_router(build_billing_router())
    app.include_router(build_people_router())
    app.include_router(build_ops_router())
    app.include_router(build_site_router())
    _install_handlers(app)
    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request, exc.next_path)

    @app.exception_handler(KeyRevoked)
    async def _revoked(request: Request, exc: KeyRevoked) -> Response:
        logins: LoginService = request.app.state.logins
        await logins.logout(request.cookies.get(COOKIE))
        return login_redirect(request, "/")

    @app.exception_handler(BadCsrf)
    async def _csrf(request: Request, exc: BadCsrf) -> Response:
        message = "This form expired or did not come from the console. Reload the page and try again."
        return render(request, "error.html", {"user": None, "message": message}, status=403)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        message = "Your key may only view: ask an administrator for an operator key to do this."
        return render(request, "error.html", {"user": None, "message": message}, status=403)
