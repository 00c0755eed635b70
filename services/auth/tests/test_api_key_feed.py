"""Other services accept the API keys auth issues: voltline_chassis.api_keys over real Kafka.

A stand-in service built with the chassis (as billing or session would be) follows the api-keys topic
with ApiKeyFeed and checks bearer tokens with ApiKeyVerifier; keys are created and revoked at auth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from auth_testing import TOKEN, Running, eventually, read_topic
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from voltline_chassis.api_keys import ApiKeyFeed, ApiKeyVerifier
from voltline_chassis.app import create_app
from voltline_chassis.infra import bus_config
from voltline_chassis.security import ChainVerifier, OperatorPrincipal, StaticTokenVerifier
from voltline_chassis.settings import ServiceSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")


class OtherSettings(ServiceSettings):
    service_name: str = "other"
    http_port: int = 0


@asynccontextmanager
async def other_service(auth: Running) -> AsyncIterator[tuple[httpx.AsyncClient, ApiKeyFeed]]:
    settings = OtherSettings(
        kafka_bootstrap=auth.settings.kafka_bootstrap, topic_prefix=auth.settings.topic_prefix, admin_token=TOKEN
    )
    feed = ApiKeyFeed(bus_config(settings, "other/1"), auth.topics.api_keys)
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
