"""Test helpers: a fake gateway with fake stations, over the test run's real Kafka.

The fake gateway is another service's stand-in on real Kafka: it answers the station commands auth
sends (as stations would: it keeps each fake station's local list, cache clears and password), and
it asks auth the questions the real gateway asks (boot and authorisation decisions).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from pydantic import SecretStr
from voltline_auth.bootstrap import build
from voltline_auth.settings import AuthSettings
from voltline_bus import BusConfig, Producer, RequestReplyClient, reply
from voltline_devinfra.waiting import eventually as eventually  # re-exported for the tests
from voltline_events import Envelope, Event, Topics, decode_payload, envelope_for, station_key
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizationRequested,
    BootDecision,
    BootDecisionRequested,
    IdToken,
    StationCommand,
    StationCommandResult,
    StationConnected,
)
from voltline_events.topics import LIFECYCLE_EVENT_TYPES

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class FakeStation:
    """What a charging station does with the calls auth sends it."""

    ocpp_version: str
    online: bool = True
    list_version: int = 0
    local_list: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    cache_clears: int = 0
    password: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)  # action -> status to answer instead
    refuse_once: dict[str, str] = field(default_factory=dict)  # the same, for the next such call only
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, payload))
        if action in self.refuse or action in self.refuse_once:
            status = self.refuse_once.pop(action, None) or self.refuse[action]
            if action == "SetVariables":
                return {"setVariableResult": [{"attributeStatus": status}]}
            return {"status": status}
        v16 = self.ocpp_version == "ocpp1.6"
        if action == "ClearCache":
            self.cache_clears += 1
            return {"status": "Accepted"}
        if action == "GetLocalListVersion":
            return {"listVersion" if v16 else "versionNumber": self.list_version}
        if action == "SendLocalList":
            return self._send_local_list(payload, v16)
        if action == "ChangeConfiguration" and v16 and payload["key"] == "AuthorizationKey":
            self.password = payload["value"]
            return {"status": "Accepted"}
        if action == "SetVariables" and not v16:
            data = payload["setVariableData"][0]
            assert (data["component"]["name"], data["variable"]["name"]) == ("SecurityCtrlr", "BasicAuthPassword")
            self.password = data["attributeValue"]
            return {"setVariableResult": [{"attributeStatus": "Accepted", **data}]}
        raise AssertionError(f"unexpected call {action} for {self.ocpp_version}")

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]

    def calls_of(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.calls if name == action]

    def _send_local_list(self, payload: dict[str, Any], v16: bool) -> dict[str, Any]:
        version = payload["listVersion" if v16 else "versionNumber"]
        if payload["updateType"] == "Differential" and version <= self.list_version:
            return {"status": "VersionMismatch"}
        if payload["updateType"] == "Full":
            self.local_list = {}
        for item in payload.get("localAuthorizationList", []):
            tag = item["idTag"] if v16 else item["idToken"]["idToken"]
            info = item.get("idTagInfo" if v16 else "idTokenInfo")
            if info is None:
                self.local_list.pop(tag, None)
            else:
                self.local_list[tag] = info
        self.list_version = version
        return {"status": "Accepted"}


class FakeGateway:
    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self.stations: dict[str, FakeStation] = {}
        config = BusConfig(bootstrap=bootstrap, client_id=f"fake-gw-{uuid.uuid4().hex[:6]}")
        self._config = config
        self.producer = Producer(config)
        self.rpc = RequestReplyClient(config, self.producer, topics.gateway_replies(f"fake-{uuid.uuid4().hex[:6]}"))
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.producer.start()
        await self.rpc.start()
        consumer = AIOKafkaConsumer(bootstrap_servers=self._config.bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        partitions = await self.producer.partitions_for(self.topics.station_commands)
        tps = [TopicPartition(self.topics.station_commands, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._serve(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        await self.rpc.stop()
        await self.producer.stop()

    async def _serve(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    request = Envelope.from_bytes(record.value)
                    command = decode_payload(request)
                    assert isinstance(command, StationCommand)
                    await reply(self.producer, request, self._execute(request.station_id, command), source="gw/fake")

    def _execute(self, station_id: str | None, command: StationCommand) -> StationCommandResult:
        station = self.stations.get(station_id or "")
        if station is None or not station.online:
            return StationCommandResult(outcome="offline", action=command.action)
        if command.ocpp_version not in (None, station.ocpp_version):
            return StationCommandResult(outcome="invalid", action=command.action, error_description="wrong version")
        payload = station.answer(command.action, command.payload)
        return StationCommandResult(
            outcome="answered", action=command.action, ocpp_version=station.ocpp_version, payload=payload
        )

    async def publish(self, topic: str, event: Event, station_id: str) -> None:
        """As the gateway publishes: a lifecycle event on the station stream is copied to the lifecycle topic."""
        envelope = envelope_for(event, source="gw/fake", station_id=station_id)
        await self.producer.publish(topic, envelope, key=station_key(station_id))
        if topic == self.topics.station_events and event.TYPE in LIFECYCLE_EVENT_TYPES:
            await self.producer.publish(self.topics.station_lifecycle, envelope, key=station_key(station_id))

    async def connect(self, station_id: str, ocpp_version: str = "ocpp1.6", **station: Any) -> BootDecision:
        """The station connects and boots, as the real gateway reports it."""
        self.stations[station_id] = self.stations.get(station_id) or FakeStation(ocpp_version, **station)
        self.stations[station_id].online = True
        await self.publish(
            self.topics.station_events,
            StationConnected(ocpp_version=ocpp_version, gateway_instance="fake"),  # type: ignore[arg-type]
            station_id,
        )
        ask = BootDecisionRequested(ocpp_version=ocpp_version, vendor="ACME", model="T1")  # type: ignore[arg-type]
        answer = await self._ask(ask, station_id)
        assert isinstance(answer, BootDecision)
        return answer

    async def authorize(
        self,
        station_id: str,
        id_token: str,
        *,
        ocpp_version: str = "ocpp1.6",
        token_type: str = "ISO14443",
        purpose: str = "authorize",
        evse_id: int | None = None,
    ) -> AuthorizationDecision:
        ask = AuthorizationRequested(
            ocpp_version=ocpp_version,  # type: ignore[arg-type]
            id_token=IdToken(id_token=id_token, type=token_type),
            purpose=purpose,  # type: ignore[arg-type]
            evse_id=evse_id,
        )
        answer = await self._ask(ask, station_id)
        assert isinstance(answer, AuthorizationDecision)
        return answer

    async def _ask(self, request: Event, station_id: str) -> Event:
        envelope = envelope_for(request, source="gw/fake", station_id=station_id)
        answer = await self.rpc.request(self.topics.auth_requests, envelope, key=station_key(station_id), timeout=30)
        return decode_payload(answer)


@dataclass
class Running:
    api: httpx.AsyncClient  # sends the admin token
    anon: httpx.AsyncClient  # sends no token
    gateway: FakeGateway
    topics: Topics
    settings: AuthSettings
    app: FastAPI | None = None

    async def online(self, station_id: str, ocpp_version: str = "ocpp1.6", **station: Any) -> BootDecision:
        """The station connects and boots, and the auth service has recorded it as connected.

        Station events reach the auth service in batches (up to 100 ms later than a boot decision), so a
        test that next acts on the station's connection (a password rotation) waits for it.
        """
        answer = await self.gateway.connect(station_id, ocpp_version, **station)

        async def connected() -> bool:
            found = await self.api.get(f"/api/v1/stations/{station_id}")
            return found.status_code == 200 and bool((found.json()["sync"] or {}).get("connected"))

        await eventually(connected, within=10)
        return answer


@asynccontextmanager
async def running_auth(kafka: Any, postgres: Any, mailer: Any = None, **overrides: Any) -> AsyncIterator[Running]:
    """An auth service with its lifespan, a fake gateway, and API clients (`mailer`: where drivers' mail goes)."""
    prefix = f"t-{uuid.uuid4().hex[:8]}."
    options: dict[str, Any] = {
        "database_url": postgres.create_database(f"auth_{uuid.uuid4().hex[:12]}"),
        "kafka_bootstrap": kafka.bootstrap_servers,
        "topic_prefix": prefix,
        "admin_token": SecretStr(TOKEN),
        "sync_poll_interval_s": 0.2,
        "boot_sync_delay_s": 0,
        "command_timeout_s": 5,
        **overrides,
    }
    settings = AuthSettings(**options)
    app = build(settings, mailer=mailer)
    async with app.router.lifespan_context(app):
        gateway = FakeGateway(kafka.bootstrap_servers, Topics(prefix))
        await gateway.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://auth", headers=ADMIN) as api,
                httpx.AsyncClient(transport=transport, base_url="http://auth") as anon,
            ):
                yield Running(api, anon, gateway, Topics(prefix), settings, app)
        finally:
            await gateway.stop()


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Everything on a topic right now (key, envelope), read without a consumer group."""
    import json

    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)  # every partition: topics have several (declared)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for p in described["partitions"]) or [0]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        seen: list[tuple[bytes | None, dict[str, Any]]] = []
        while await _behind(consumer, ends):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen += [(r.key, json.loads(r.value)) for r in records if r.value is not None]
        return seen
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Has the consumer not yet read up to these end offsets?"""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
