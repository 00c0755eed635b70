"""Other services accept the API keys auth issues: voltline_chassis.api_keys over real Kafka.

A stand-in service built with the chassis (as billing or session would be) follows the api-keys topic
with ApiKeyFeed and checks bearer tokens with ApiKeyVerifier; keys are created and revoked at auth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from auth_testing import TOKEN, Running, eventually, read_topic
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from voltline_bus import BusConfig, Producer
from voltline_chassis.api_keys import (
    ApiKeyFeed,
    ApiKeyVerifier,
    hash_api_key,
    new_api_key,
    record_signing_key,
    sign_record,
)
from voltline_chassis.app import create_app
from voltline_chassis.infra import api_key_feed_for, bus_config
from voltline_chassis.security import ChainVerifier, OperatorPrincipal, StaticTokenVerifier
from voltline_chassis.settings import ServiceSettings
from voltline_events import Envelope, envelope_for
from voltline_events.payloads.auth import ApiKeyRegistered

pytestmark = pytest.mark.asyncio(loop_scope="module")


class OtherSettings(ServiceSettings):
    service_name: str = "other"
    http_port: int = 0


@asynccontextmanager
async def other_service(auth: Running) -> AsyncIterator[tuple[httpx.AsyncClient, ApiKeyFeed]]:
    settings = OtherSettings(
        kafka_bootstrap=auth.settings.kafka_bootstrap, topic_prefix=auth.settings.topic_prefix, admin_token=TOKEN
    )
    feed = api_key_feed_for(settings, bus_config(settings, "other/1"))
    router = APIRouter()

    @router.get("/things")
    async def things() -> dict[str, list[str]]:
        return {"items": []}

    @router.post("/things", status_code=201)
    async def make(who: OperatorPrincipal) -> dict[str, str]:
        return {"by": who.subject}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()

    admin = StaticTokenVerifier(SecretStr(TOKEN))
    app = create_app(
        settings=settings,
        title="other",
        version="0",
        verifier=ChainVerifier([admin, ApiKeyVerifier(feed.lookup)]),
        readiness_checks={"api_keys": feed.check},
        lifespan=lifespan,
        routers=[router],
        configure_logs=False,
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://other") as client:
            yield client, feed


async def key(auth: Running, role: str) -> tuple[str, dict[str, str]]:
    body = (await auth.api.post("/api/v1/api-keys", json={"name": f"{role} elsewhere", "role": role})).json()
    return body["key_id"], {"Authorization": f"Bearer {body['key']}"}


async def test_keys_issued_at_auth_work_in_other_services(auth: Running) -> None:
    early_id, early = await key(auth, "viewer")
    await eventually(lambda: _on_topic(auth, early_id))  # on the topic before the other service starts
    async with other_service(auth) as (other, _feed):
        assert (await other.get("/readyz")).status_code == 200
        assert (await other.get("/api/v1/things", headers=early)).status_code == 200  # loaded at start

        operator_id, operator = await key(auth, "operator")

        async def accepted() -> bool:
            return (await other.post("/api/v1/things", headers=operator)).status_code == 201

        await eventually(accepted)
        made = await other.post("/api/v1/things", headers=operator)
        assert made.json() == {"by": f"api-key:{operator_id}"}
        assert (await other.post("/api/v1/things", headers=early)).status_code == 403  # a viewer
        assert (await other.get("/api/v1/things", headers={"Authorization": "Bearer vlk_nope"})).status_code == 401
        assert (await other.get("/api/v1/things", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200

        await auth.api.delete(f"/api/v1/api-keys/{operator_id}")

        async def refused() -> bool:
            return (await other.post("/api/v1/things", headers=operator)).status_code == 401

        await eventually(refused)
        assert (await other.get("/api/v1/things", headers=early)).status_code == 200


async def _on_topic(auth: Running, key_id: str) -> bool:
    entries = await read_topic(auth.settings.kafka_bootstrap, auth.topics.api_keys)
    return any(k == key_id.encode() for k, _ in entries)


async def test_the_topic_carries_hashes_never_keys(auth: Running) -> None:
    key_id, headers = await key(auth, "admin")
    secret = headers["Authorization"].removeprefix("Bearer ")

    async def published() -> list[dict[str, Any]]:
        entries = await read_topic(auth.settings.kafka_bootstrap, auth.topics.api_keys)
        return [env for k, env in entries if k == key_id.encode()]

    async def seen() -> bool:
        return bool(await published())

    await eventually(seen)
    [event] = await published()
    assert event["type"] == "auth.api_key" and event["payload"]["role"] == "admin"
    assert secret not in str(event) and len(event["payload"]["key_hash"]) == 64


async def test_records_auth_did_not_sign_are_ignored(auth: Running) -> None:
    """Anyone who can reach the broker could produce an admin key record; only auth's signature counts."""
    secret = new_api_key()
    forged = ApiKeyRegistered(key_id="forged01", name="attacker", role="admin", key_hash=hash_api_key(secret))
    wrong_key = sign_record(forged, record_signing_key("not-the-admin-token-000"), datetime.now(UTC))
    bearer = {"Authorization": f"Bearer {secret}"}
    producer = Producer(BusConfig(bootstrap=auth.settings.kafka_bootstrap, client_id="attacker"))
    await producer.start()
    try:
        for event in (forged, wrong_key):
            envelope = envelope_for(event, source="auth/forged")
            await producer.publish(auth.topics.api_keys, envelope, key=event.key_id.encode())
        # A real key revoked at auth, then its earlier (validly signed) record replayed.
        revoked_id, revoked = await key(auth, "admin")
        await eventually(lambda: _on_topic(auth, revoked_id))
        entries = await read_topic(auth.settings.kafka_bootstrap, auth.topics.api_keys)
        early = next(env for k, env in entries if k == revoked_id.encode())
        await auth.api.delete(f"/api/v1/api-keys/{revoked_id}")
        async with other_service(auth) as (other, feed):
            await eventually(lambda: feed.forged >= 2)
            assert (await other.get("/api/v1/things", headers=bearer)).status_code == 401
            assert (await other.get("/api/v1/things", headers=revoked)).status_code == 401
            await producer.publish(auth.topics.api_keys, Envelope.model_validate(early), key=revoked_id.encode())
            _, marker = await key(auth, "viewer")  # published after the replay: once seen, so is the replay

            async def marker_seen() -> bool:
                return (await other.get("/api/v1/things", headers=marker)).status_code == 200

            await eventually(marker_seen)
            assert (await other.get("/api/v1/things", headers=revoked)).status_code == 401  # the replay lost
    finally:
        await producer.stop()
