"""Shared fixtures: a small app wired exactly like a real service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, SecretStr
from voltline_chassis import (
    AdminPrincipal,
    ChainVerifier,
    OperatorPrincipal,
    Principal,
    Problem,
    ServiceSettings,
    StaticTokenVerifier,
    TokenVerifier,
    ViewerPrincipal,
    bind_context,
    create_app,
    get_logger,
)

ADMIN_TOKEN = "admin-secret-token"
OPERATOR_TOKEN = "operator-token"
VIEWER_TOKEN = "viewer-token"


class DictVerifier:
    """Stand-in for the auth service's API-key verifier."""

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self.keys = dict(keys)
        self.calls = 0

    async def verify(self, token: str) -> Principal | None:
        self.calls += 1
        return self.keys.get(token)


class StartSession(BaseModel):
    station_id: str = Field(min_length=1)
    connector_id: int = Field(ge=1)


def build_router() -> APIRouter:
    router = APIRouter()
    log = get_logger("test.handlers")

    @router.get("/stations")
    async def list_stations(principal: ViewerPrincipal) -> dict[str, Any]:
        return {"subject": principal.subject, "roles": sorted(principal.roles)}

    @router.get("/stations/{station_id}")
    async def get_station(station_id: str) -> dict[str, str]:
        with bind_context(station_id=station_id):
            log.info("station_lookup")
        raise Problem(404, f"Station {station_id} is not registered.", extra={"station_id": station_id})

    @router.post("/sessions", status_code=201)
    async def start_session(body: StartSession, principal: OperatorPrincipal) -> dict[str, Any]:
        bind_context(station_id=body.station_id)  # plain call: binds for the rest of the request
        log.info("session_started", connector_id=body.connector_id)
        return {"station_id": body.station_id, "by": principal.subject}

    @router.delete("/stations/{station_id}", status_code=204)
    async def delete_station(station_id: str, principal: AdminPrincipal) -> None:
        return None

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("db password=hunter2 leaked internals")

    return router


def make_settings(**overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "service_name": "test-svc",
        "http_port": 0,
        "admin_token": SecretStr(ADMIN_TOKEN),
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return ServiceSettings(**values)


def make_verifier() -> TokenVerifier:
    return ChainVerifier(
        [
            StaticTokenVerifier(SecretStr(ADMIN_TOKEN)),
            DictVerifier(
                {
                    OPERATOR_TOKEN: Principal("op-key-1", frozenset({"operator"})),
                    VIEWER_TOKEN: Principal("viewer-key-1", frozenset({"viewer"})),
                }
            ),
        ]
    )


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def app_factory() -> AppFactory:
    def factory(
        readiness_checks: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
        verifier: TokenVerifier | None = None,
        **kwargs: Any,
    ) -> FastAPI:
        return create_app(
            settings=make_settings(),
            title="Test service",
            version="1.2.3",
            verifier=verifier or make_verifier(),
            readiness_checks=readiness_checks or {},
            routers=[build_router()],
            **kwargs,
        )

    return factory


@pytest.fixture
def app(app_factory: AppFactory) -> FastAPI:
    return app_factory()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions stays True: an exception escaping the chassis middleware fails the test.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_lines(out: str) -> list[dict[str, Any]]:
    """Every stdout line must be a JSON object; return them parsed."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def helpers() -> Any:
    class Helpers:
        ADMIN = ADMIN_TOKEN
        OPERATOR = OPERATOR_TOKEN
        VIEWER = VIEWER_TOKEN
        bearer = staticmethod(bearer)
        log_lines = staticmethod(log_lines)
        make_settings = staticmethod(make_settings)
        DictVerifier = DictVerifier

    return Helpers
