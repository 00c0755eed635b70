"""Auth's presence and the audit of the gateways' local Authorize answers come from the station lifecycle topic
(ADR 0037), not from the whole station stream; across a restart and the upgrade from the stream, nothing is
missed and no answer is logged twice. Real Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from auth_testing import ADMIN, TOKEN, eventually, running_auth
from pydantic import SecretStr
from voltline_auth.bootstrap import build
from voltline_auth.settings import AuthSettings
from voltline_bus import BusConfig, Producer
from voltline_events import Event, Topics, envelope_for, station_key
from voltline_events.payloads import (
    AuthorizeAnswered,
    BootNotification,
    IdToken,
    StationConnected,
    StationDisconnected,
)


async def _registered(api: httpx.AsyncClient, *station_ids: str) -> None:
    for station_id in station_ids:
        created = await api.post("/api/v1/stations", json={"station_id": station_id})
        assert created.status_code == 201, created.text


async def _connected(api: httpx.AsyncClient, station_id: str) -> bool | None:
    found = await api.get(f"/api/v1/stations/{station_id}")
    sync = found.json().get("sync") if found.status_code == 200 else None
    return None if not sync else bool(sync.get("connected"))


async def _logged(api: httpx.AsyncClient, station_id: str) -> list[dict[str, Any]]:
    page = await api.get("/api/v1/authorizations", params={"station_id": station_id})
    return list(page.json()["items"])


def _answer(value: str) -> AuthorizeAnswered:
    return AuthorizeAnswered(ocpp_version="ocpp1.6", status="Accepted", local=True, id_token=IdToken(id_token=value))


async def test_presence_and_local_answers_are_read_from_the_lifecycle_topic_only(kafka: Any, postgres: Any) -> None:
    async with running_auth(kafka, postgres) as auth:
        await _registered(auth.api, "CP-STREAM", "CP-LIFE")
        # As an older gateway publishes: on the station stream only. The lifecycle consumer never sees it.
        await auth.gateway.producer.publish(
            auth.topics.station_events,
            envelope_for(
                StationConnected(ocpp_version="ocpp1.6", gateway_instance="old"), source="gw", station_id="CP-STREAM"
            ),
            key=station_key("CP-STREAM"),
        )
        await auth.gateway.publish(
            auth.topics.station_events, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"), "CP-LIFE"
        )
        await auth.gateway.publish(auth.topics.station_events, _answer("card-life"), "CP-LIFE")
        await eventually(lambda: _is(_connected(auth.api, "CP-LIFE"), True), within=15)
        await eventually(lambda: _count(_logged(auth.api, "CP-LIFE"), 1), within=15)
        metrics = (await auth.anon.get("/metrics")).text
        consumed = [line for line in metrics.splitlines() if line.startswith("voltline_bus_messages_consumed_total{")]
        assert any(auth.topics.station_lifecycle in line for line in consumed)
        assert not any(f'topic="{auth.topics.station_events}"' in line for line in consumed), consumed
        assert await _connected(auth.api, "CP-STREAM") is None


@asynccontextmanager
async def _running(settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth", headers=ADMIN) as api:
            yield api


async def test_from_the_stream_to_the_lifecycle_topic_across_a_restart_nothing_missed_nothing_twice(
    kafka: Any, postgres: Any
) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    settings = AuthSettings(
        database_url=postgres.create_database(f"auth_{uuid.uuid4().hex[:12]}"),
        kafka_bootstrap=kafka.bootstrap_servers,
        topic_prefix=prefix,
        admin_token=SecretStr(TOKEN),
        sync_poll_interval_s=0.2,
        boot_sync_delay_s=0,
        presence_source="station-events",  # as before the upgrade
    )
    producer = Producer(BusConfig(bootstrap=kafka.bootstrap_servers, client_id="gw-test", idempotence=False))

    async def gateway(event: Event) -> None:  # an upgraded gateway: the stream, then the lifecycle copy
        envelope = envelope_for(event, source="gw", station_id="CP-UP")
        for topic in (topics.station_events, topics.station_lifecycle):
            await producer.publish(topic, envelope, key=station_key("CP-UP"))

    async with producer:
        async with _running(settings) as api:
            await _registered(api, "CP-UP")
            await gateway(StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"))
            await gateway(_answer("card-1"))
            await eventually(lambda: _is(_connected(api, "CP-UP"), True), within=15)
            await eventually(lambda: _count(_logged(api, "CP-UP"), 1), within=15)
        # Auth is down (and upgraded): the station goes, another answer is given.
        await gateway(StationDisconnected(gateway_instance="gw", reason="gone", cause="closed"))
        await gateway(_answer("card-2"))
        upgraded = settings.model_copy(update={"presence_source": "lifecycle"})
        async with _running(upgraded) as api:
            # Its new group reads the lifecycle topic from the start: the first answer again, then the new events.
            await eventually(lambda: _count(_logged(api, "CP-UP"), 2), within=20)
            assert await _connected(api, "CP-UP") is False
            rows = await _logged(api, "CP-UP")
            assert sorted(row["id_token"] for row in rows) == ["CARD-1", "CARD-2"]  # the first one not twice


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _count(rows: Any, n: int) -> bool:
    return len(await rows) >= n


async def test_a_disconnect_read_before_the_connect_and_boot_it_follows_still_wins(kafka: Any, postgres: Any) -> None:
    """The order a restarted embedded broker held (ADR 0045): the gateway's producer resent the disconnect it had in
    flight to the new broker, then the gateway's spool gave it the connect and boot again, then the disconnect
    again (dropped by the inbox). The station left: auth must not show it connected."""
    async with running_auth(kafka, postgres) as auth:
        await _registered(auth.api, "CP-LEFT")
        connect, boot, leave = (
            envelope_for(event, source="gw", station_id="CP-LEFT")
            for event in (
                StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw"),
                BootNotification(ocpp_version="ocpp2.0.1", vendor="V", model="M", raw={}),
                StationDisconnected(gateway_instance="gw", reason="closed by station", cause="closed_by_station"),
            )
        )
        assert connect.time < boot.time < leave.time
        later = envelope_for(_answer("card-after"), source="gw", station_id="CP-LEFT")  # read after the four
        for envelope in (leave, connect, boot, leave, later):
            await auth.gateway.producer.publish(auth.topics.station_lifecycle, envelope, key=station_key("CP-LEFT"))
        await eventually(lambda: _count(_logged(auth.api, "CP-LEFT"), 1), within=15)
        assert await _connected(auth.api, "CP-LEFT") is False
