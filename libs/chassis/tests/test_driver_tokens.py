"""Drivers' access tokens: verified locally from published keys; driver routes, public routes, role separation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import APIRouter
from pydantic import SecretStr
from voltline_chassis import ChainVerifier, ServiceSettings, StaticTokenVerifier, create_app
from voltline_chassis.api_keys import record_signing_key
from voltline_chassis.driver_tokens import (
    CurrentDriver,
    DriverKeyTable,
    DriverTokenVerifier,
    SigningKey,
    key_record_is_authentic,
    sign_key_record,
)
from voltline_events.payloads.auth import DriverSigningKey

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
KEY = SigningKey.generate(NOW)


def record(key: SigningKey, at: datetime, retired: bool = False) -> DriverSigningKey:
    event = DriverSigningKey(kid=key.kid, public_key=key.public_pem(), created_at=key.created_at, retired=retired)
    return sign_key_record(event, record_signing_key("admin"), at)


def app() -> httpx.AsyncClient:
    table = DriverKeyTable()
    table.apply(record(KEY, NOW))
    verifier = ChainVerifier(
        [StaticTokenVerifier(SecretStr("admin")), DriverTokenVerifier(table.get, clock=lambda: NOW)]
    )
    drivers, operators = APIRouter(), APIRouter()

    @drivers.get("/me")
    async def me(driver_id: CurrentDriver) -> dict[str, str]:
        return {"driver_id": driver_id}

    @drivers.post("/sign-up")
    async def sign_up() -> dict[str, str]:
        return {"ok": "yes"}

    @operators.get("/stations")
    async def stations() -> dict[str, str]:
        return {"ok": "yes"}

    built = create_app(
        settings=ServiceSettings(service_name="t", http_port=0, admin_token=SecretStr("admin")),
        title="t",
        version="0",
        verifier=verifier,
        readiness_checks={},
        routers=[operators],
        driver_routers=[drivers],
        public_routes=[("POST", "/api/v1/sign-up")],
        configure_logs=False,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=built), base_url="http://t")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_driver_routes_take_driver_tokens_only() -> None:
    token = KEY.sign("drv-1", "APP1", NOW, timedelta(minutes=5))
    async with app() as client:
        assert (await client.get("/api/v1/me", headers=bearer(token))).json() == {"driver_id": "drv-1"}
        assert (await client.get("/api/v1/me", headers=bearer("admin"))).status_code == 403
        assert (await client.get("/api/v1/me")).status_code == 401
        assert (await client.get("/api/v1/stations", headers=bearer(token))).status_code == 403
        assert (await client.get("/api/v1/stations", headers=bearer("admin"))).status_code == 200
        # Public: no token needed, for that method only.
        assert (await client.post("/api/v1/sign-up")).status_code == 200
        assert (await client.get("/api/v1/sign-up")).status_code == 401


async def test_expired_unknown_key_and_tampered_tokens_are_refused() -> None:
    stranger = SigningKey.generate(NOW)
    async with app() as client:
        for token in (
            KEY.sign("drv-1", None, NOW - timedelta(minutes=10), timedelta(minutes=5)),
            stranger.sign("drv-1", None, NOW, timedelta(minutes=5)),
            KEY.sign("drv-1", None, NOW, timedelta(minutes=5))[:-4] + "AAAA",
        ):
            assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401


def test_key_records_are_authenticated_and_a_retirement_wins() -> None:
    signing = record_signing_key("admin")
    assert key_record_is_authentic(record(KEY, NOW), signing)
    assert not key_record_is_authentic(record(KEY, NOW), record_signing_key("someone else"))
    forged = record(KEY, NOW).model_copy(update={"public_key": SigningKey.generate(NOW).public_pem()})
    assert not key_record_is_authentic(forged, signing)
    table = DriverKeyTable()
    table.apply(record(KEY, NOW))
    table.apply(record(KEY, NOW + timedelta(seconds=1), retired=True))
    table.apply(record(KEY, NOW))  # an older record replayed: the retirement stands
    assert table.get(KEY.kid) is None
    token = KEY.sign("drv-1", None, NOW, timedelta(minutes=5))
    assert DriverTokenVerifier(table.get, clock=lambda: NOW).verify_now(token) is None
