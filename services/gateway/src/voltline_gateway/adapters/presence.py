"""Presence: which gateway instance holds which station, and which instances are alive.

Read from Topics.gateway_presence (compacted) into memory; written on every connect and disconnect, and
as a liveness beat every `interval` seconds under the key `#gateway/<instance>`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime

import orjson
import structlog
from pydantic import ValidationError
from voltline_bus import Producer
from voltline_events import Topics, envelope_for
from voltline_events.payloads.station import GatewayAlive, StationPresence, gateway_alive_key

from voltline_gateway.adapters.bus import KafkaStationBus
from voltline_gateway.metrics import LIVE_GATEWAYS

log = structlog.get_logger()
_ALIVE_PREFIX = b"#gateway/"


class PresenceBook:
    """The newest presence record of every station, and when each gateway instance last said it was alive."""

    def __init__(self, me: str, *, holds: Callable[[str], bool]) -> None:
        self.me = me
        self._holds = holds
        self._stations: dict[str, StationPresence] = {}
        self._alive: dict[str, tuple[float, float]] = {}  # instance -> (monotonic seen, interval)
        self.reassert: Callable[[str], None] = lambda _station_id: None

    def named(self, station_id: str) -> str | None:
        record = self._stations.get(station_id)
        return record.gateway_instance if record is not None else None

    def record(self, station_id: str) -> StationPresence | None:
        return self._stations.get(station_id)

    def others_connected(self, instances: set[str]) -> list[tuple[str, StationPresence]]:
        """Stations that the given instances say they hold."""
        return [
            (station_id, record)
            for station_id, record in self._stations.items()
            if record.connected and record.gateway_instance in instances
        ]

    def live(self) -> set[str]:
        now = time.monotonic()
        return {i for i, (seen, interval) in self._alive.items() if now - seen < 3 * interval} | {self.me}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            if key.startswith(_ALIVE_PREFIX):
                self._alive.pop(key[len(_ALIVE_PREFIX) :].decode(errors="replace"), None)
            else:
                self._stations.pop(key.decode(errors="replace"), None)
            return
        try:  # every connect of every gateway lands here: read the payload only, not the whole envelope model
            raw = orjson.loads(value)
            event_type, payload = raw["type"], raw["payload"]
            event = (GatewayAlive if event_type == GatewayAlive.TYPE else StationPresence).model_validate(payload)
            station_id = raw.get("station_id")
        except (ValidationError, ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable presence record skipped", error=str(exc)[:200])
            return
        if isinstance(event, GatewayAlive):
            if event.stopping:
                self._alive.pop(event.gateway_instance, None)
            else:
                self._alive[event.gateway_instance] = (time.monotonic(), event.interval_s)
            LIVE_GATEWAYS.set(len(self.live()))
        elif isinstance(event, StationPresence) and station_id:
            self._stations[station_id] = event
            mine = event.gateway_instance == self.me and event.connected
            if not mine and self._holds(station_id):
                self.reassert(station_id)  # a stale record (or another instance's) must not win: say it again


class PresencePublisher:
    """Writes this instance's presence records and liveness beats."""

    def __init__(
        self, producer: Producer, bus: KafkaStationBus, topics: Topics, *, me: str, source: str, interval: float
    ) -> None:
        self._producer = producer
        self._bus = bus
        self._topic = topics.gateway_presence
        self._me = me
        self._source = source
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def station(
        self, station_id: str, *, connected: bool, ocpp_version: str | None, remote: str | None, since: datetime
    ) -> Coroutine[None, None, None]:
        """Queue the station's presence record now (batched with its events); await the result for the ack."""
        event = StationPresence(
            gateway_instance=self._me,
            connected=connected,
            ocpp_version=ocpp_version,
            remote_address=remote,
            since=since,
        )
        return self._bus.publish_to(self._topic, event, station_id=station_id)

    async def alive(self, *, stopping: bool = False) -> None:
        event = GatewayAlive(gateway_instance=self._me, interval_s=self._interval, stopping=stopping)
        envelope = envelope_for(event, source=self._source)
        await self._producer.publish(self._topic, envelope, key=gateway_alive_key(self._me))

    async def start(self) -> None:
        await self.alive()
        self._task = asyncio.create_task(self._beat(), name="presence-beat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            async with asyncio.timeout(5):
                await self.alive(stopping=True)
        except Exception as exc:
            log.warning("could not announce this gateway's stop", error=str(exc))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with asyncio.timeout(self._interval):
                    await self.alive()
            except Exception as exc:
                log.warning("liveness beat not published", error=str(exc))


def utcnow() -> datetime:
    return datetime.now(UTC)
