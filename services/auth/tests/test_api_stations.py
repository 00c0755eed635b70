"""The station registry API over a real PostgreSQL store and a real Kafka."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from voltline_auth.bootstrap import build
from voltline_auth.settings import AuthSettings
from voltline_chassis.station_secrets import check
from voltline_events import Topics

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD = "correct-horse-battery"


@pytest.fixture
async def api(kafka, pg_url: str, topic_prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = AuthSettings(
        database_url=pg_url,
        kafka_bootstrap=kafka.bootstrap_servers,
        topic_prefix=topic_prefix,
        admin_token=SecretStr(TOKEN),
    )
    app = build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
            yield client


async def test_register_get_list_and_approve(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/stations", json={"station_id": "CP-1", "password": PASSWORD}, headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["security_profile"] == 1 and body["status"] == "Accepted" and body["has_password"] is True
    assert "password" not in body and "password_hash" not in body
    assert created.headers["location"] == "/api/v1/stations/CP-1"

    pending = await api.post("/api/v1/stations", json={"station_id": "CP-2", "status": "Pending"}, headers=ADMIN)
    assert pending.json()["security_profile"] == 0

    got = await api.get("/api/v1/stations/CP-1", headers=ADMIN)
    assert got.json()["station_id"] == "CP-1"
    listed = await api.get("/api/v1/stations", params={"status": "Pending"}, headers=ADMIN)
    assert [s["station_id"] for s in listed.json()["items"]] == ["CP-2"]

    approved = await api.patch("/api/v1/stations/CP-2", json={"status": "Accepted"}, headers=ADMIN)
    assert approved.json()["status"] == "Accepted"


async def test_errors_are_problems_naming_the_field(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/stations", json={"station_id": "CP-1"}, headers=ADMIN)
    duplicate = await api.post("/api/v1/stations", json={"station_id": "CP-1"}, headers=ADMIN)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"].startswith("application/problem+json")

    short = await api.post("/api/v1/stations", json={"station_id": "CP-3", "password": "short"}, headers=ADMIN)
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "body.password"
    no_password = await api.post("/api/v1/stations", json={"station_id": "CP-4", "security_profile": 2}, headers=ADMIN)
    assert no_password.status_code == 422 and "password" in no_password.json()["detail"]
    bad_id = await api.post("/api/v1/stations", json={"station_id": "CP 5"}, headers=ADMIN)
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["field"] == "body.station_id"

    missing = await api.get("/api/v1/stations/NOPE", headers=ADMIN)
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


async def test_tokens_are_required(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v1/stations")).status_code == 401
    assert (await api.get("/api/v1/stations", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await api.get("/healthz")).status_code == 200
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_registry_changes_are_published_keyed_by_station(
    api: httpx.AsyncClient, kafka, topic_prefix: str
) -> None:
    await api.post("/api/v1/stations", json={"station_id": "CP-9", "password": PASSWORD}, headers=ADMIN)
    await api.patch("/api/v1/stations/CP-9", json={"status": "Rejected"}, headers=ADMIN)
    consumer = AIOKafkaConsumer(
        Topics(topic_prefix).station_registry,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: list[tuple[bytes, dict]] = []
        for _ in range(30):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += [(r.key, json.loads(r.value)) for r in records]
            if len(seen) >= 2:
                break
    finally:
        await consumer.stop()
    assert [(key, env["payload"]["status"]) for key, env in seen] == [(b"CP-9", "Accepted"), (b"CP-9", "Rejected")]
    # The gateway checks Basic auth from the published verifier; the password itself never travels.
    assert all(PASSWORD not in json.dumps(env) for _, env in seen)
    assert all(check(PASSWORD, env["payload"]["password_hash"]) for _, env in seen)


async def test_bulk_registration_all_or_nothing(api: httpx.AsyncClient) -> None:
    batch = [{"station_id": f"CP-B{i:03d}", "password": f"bulk-password-{i:06d}"} for i in range(300)]
    created = await api.post("/api/v1/stations/bulk", json={"stations": batch}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert len(created.json()["items"]) == 300
    again = [{"station_id": "CP-NEW-1"}, {"station_id": "CP-B007"}]
    conflict = await api.post("/api/v1/stations/bulk", json={"stations": again}, headers=ADMIN)
    assert conflict.status_code == 409 and conflict.json()["station_ids"] == ["CP-B007"]
    assert (await api.get("/api/v1/stations/CP-NEW-1", headers=ADMIN)).status_code == 404  # none registered
    bad = [{"station_id": "CP-NEW-2"}, {"station_id": "CP-NEW-3", "password": "short"}]
    refused = await api.post("/api/v1/stations/bulk", json={"stations": bad}, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.stations.1.password"
    twice = await api.post("/api/v1/stations/bulk", json={"stations": [again[0], again[0]]}, headers=ADMIN)
    assert twice.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"station_id": "CP-E", "password": "🔌" * 40}, "password"),  # 160 bytes: was a 500 with bcrypt
        ({"station_id": "CP-E", "password": "with spaces inside it"}, "password"),
        ({"station_id": "CP-E", "security_profile": True}, "security_profile"),
        ({"station_id": "CP-E", "security_profile": "1"}, "security_profile"),
    ],
)
async def test_bad_station_input_is_422_naming_the_field(api: httpx.AsyncClient, body: dict, field: str) -> None:
    answer = await api.post("/api/v1/stations", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].endswith(field)
