"""Helpers shared by the session service's tests (no tests in here).

A `StationSim` publishes what the gateway would publish for one station — the contract the session
service consumes — on real Kafka; `SessionEvents` reads what the session service published; `eventually`
waits for an asynchronous outcome without asserting on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr
from voltline_bus import BusConfig, Producer
from voltline_devinfra.waiting import eventually as eventually  # re-exported for the tests
from voltline_events import Envelope, Event, Topics, envelope_for, station_key
from voltline_events.payloads import (
    ConnectorStatus,
    IdToken,
    MeterSample,
    SampledValue,
    StationConnected,
    StationDisconnected,
    StationTransaction,
)
from voltline_session.bootstrap import build
from voltline_session.settings import SessionSettings

T = TypeVar("T")
TOKEN = "session-test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
# The station clock's origin in these tests: yesterday, so events "hours late" are simply old timestamps.
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
ENERGY = "Energy.Active.Import.Register"


def at(minutes: float | datetime) -> datetime:
    """Station time: minutes after T0, or an explicit instant."""
    return minutes if isinstance(minutes, datetime) else T0 + timedelta(minutes=minutes)


def value(
    number: float | int | str, measurand: str = ENERGY, unit: str | None = "Wh", context: str | None = None
) -> SampledValue:
    return SampledValue(value=str(number), measurand=measurand, unit=unit, context=context)


def sample(minutes: float | datetime, *values: SampledValue) -> MeterSample:
    return MeterSample(timestamp=at(minutes), values=list(values))


def energy(minutes: float | datetime, wh: int, context: str | None = None, *, kwh: bool = False) -> MeterSample:
    """One register reading; `kwh` sends it in kWh with three decimals, as many stations do."""
    if kwh:
        return sample(minutes, value(format(Decimal(wh) / 1000, ".3f"), unit="kWh", context=context))
    return sample(minutes, value(wh, context=context))


class StationSim:
    """What the gateway publishes about one station, keyed by its id on the station events topic."""

    def __init__(self, producer: Producer, topics: Topics, station_id: str, ocpp_version: str = "ocpp1.6") -> None:
        self.producer, self.topics, self.station_id, self.ocpp_version = producer, topics, station_id, ocpp_version

    async def publish(self, envelope: Envelope) -> Envelope:
        await self.producer.publish(self.topics.station_events, envelope, key=station_key(self.station_id))
        return envelope

    async def send(self, event: Event, *, time: datetime | None = None) -> Envelope:
        envelope = envelope_for(event, source="gateway/test", station_id=self.station_id)
        if time is not None:
            envelope = envelope.model_copy(update={"time": time})
        return await self.publish(envelope)

    async def connect(self) -> Envelope:
        return await self.send(StationConnected(ocpp_version=self.ocpp_version, gateway_instance="gw-test"))  # type: ignore[arg-type]

    async def disconnect(self) -> Envelope:
        return await self.send(StationDisconnected(gateway_instance="gw-test", reason="closed by station"))

    async def status(self, minutes: float, status: str, connector_id: int = 1, evse_id: int | None = None) -> Envelope:
        event = ConnectorStatus(
            ocpp_version=self.ocpp_version,  # type: ignore[arg-type]
            timestamp=at(minutes),
            evse_id=evse_id,
            connector_id=connector_id,
            status=status,
        )
        return await self.send(event)

    async def tx(self, kind: str, transaction_id: str, minutes: float | datetime, **fields: Any) -> Envelope:
        """A StationTransaction; `id_tag="X"` is shorthand for an ISO14443 id token."""
        if "id_tag" in fields:
            fields["id_token"] = IdToken(id_token=fields.pop("id_tag"), type=fields.pop("id_type", "ISO14443"))
        event = StationTransaction(
            ocpp_version=self.ocpp_version,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            transaction_id=transaction_id,
            timestamp=at(minutes),
            **fields,
        )
        return await self.send(event)


async def wait_session(
    api: httpx.AsyncClient, headers: dict[str, str], station_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The one session of a station, once `ready(session)` holds."""

    async def check() -> dict[str, Any] | None:
        response = await api.get("/api/v1/sessions", params={"station_id": station_id}, headers=headers)
        items = response.json().get("items", []) if response.status_code == 200 else []
        assert len(items) <= 1, f"more than one session for {station_id}: {items}"
        return items[0] if items and ready(items[0]) else None

    return await eventually(check, what=f"the session of {station_id}")


class SessionEvents:
    """Everything on the sessions topic since it was created, deduplicated by event id."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self._bootstrap, self._topic = bootstrap, topics.sessions
        self._seen: dict[UUID, Envelope] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None)
        await consumer.start()
        partitions = await eventually(lambda: _partitions(consumer, self._topic), what=f"topic {self._topic}")
        tps = [TopicPartition(self._topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._consumer = consumer
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    envelope = Envelope.from_bytes(record.value or b"")
                    self._seen.setdefault(envelope.event_id, envelope)  # the outbox may send one twice

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def of(self, session_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """Payloads about one session (optionally of one type), in publishing order."""
        return [
            {"type": e.type, **e.payload}
            for e in self._seen.values()
            if e.session_id == session_id and (event_type is None or e.type == event_type)
        ]

    async def wait(self, session_id: str, ready: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        async def check() -> list[dict[str, Any]] | None:
            found = self.of(session_id)
            return found if ready(found) else None

        return await eventually(check, what=f"events of session {session_id}")


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int] | None:
    await consumer._client.force_metadata_update()
    found = consumer.partitions_for_topic(topic)
    return sorted(found) if found else None


def ended(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "session.ended"]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@dataclass
class RunningSession:
    """A session service and what a test needs around it: its API, a producer for station events, its events."""

    api: httpx.AsyncClient
    producer: Producer
    topics: Topics
    events: SessionEvents
    bootstrap: str
    settings: SessionSettings

    def station(self, station_id: str, ocpp_version: str = "ocpp1.6") -> StationSim:
        return StationSim(self.producer, self.topics, station_id, ocpp_version)


def new_database(postgres: Any) -> str:
    return str(postgres.create_database(f"session_{secrets.token_hex(4)}"))


async def run_service(
    kafka: Any, database_url: str, payments: Any = None, **overrides: Any
) -> AsyncIterator[RunningSession]:
    """The session service in-process (with its lifespan) on its own topic prefix and database."""
    prefix = f"t-{secrets.token_hex(4)}."
    settings = SessionSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap_servers,
        topic_prefix=prefix,
        admin_token=SecretStr(TOKEN),
        instance_id=f"test-{secrets.token_hex(2)}",
        **{"session_update_interval_s": 0, **overrides},
    )
    topics = Topics(prefix)
    app = build(settings, payments=payments)
    producer = Producer(BusConfig(bootstrap=kafka.bootstrap_servers, client_id="session-tests"))
    async with app.router.lifespan_context(app):
        await producer.start()
        events = SessionEvents(kafka.bootstrap_servers, topics)
        await events.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://session") as api:
                yield RunningSession(api, producer, topics, events, kafka.bootstrap_servers, settings)
        finally:
            await events.stop()
            await producer.stop()
