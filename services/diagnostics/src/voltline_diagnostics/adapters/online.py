"""Who is online, from the gateways' compacted presence topic, read whole at start and followed live.

Used to fail a command for an offline station at once and to wait for a station to come back.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from voltline_bus import BusConfig, Producer
from voltline_events import Envelope, decode_payload
from voltline_events.payloads.station import StationPresence

from voltline_diagnostics.service_layer.maintenance_ports import Presence

log = structlog.get_logger()


class OnlineStations:
    def __init__(self, config: BusConfig, producer: Producer, topic: str) -> None:
        self._config, self._producer, self._topic = config, producer, topic
        self._stations: dict[str, Presence] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    def get(self, station_id: str) -> Presence | None:
        return self._stations.get(station_id)

    def online(self) -> dict[str, Presence]:
        return {s: p for s, p in self._stations.items() if p.connected}

    def apply(self, envelope: Envelope) -> None:
        if envelope.type != StationPresence.TYPE or not envelope.station_id:
            return
        try:
            record = decode_payload(envelope)
        except ValueError:
            return
        assert isinstance(record, StationPresence)
        self._stations[envelope.station_id] = Presence(record.connected, record.ocpp_version, record.gateway_instance)
        event = self._changed.pop(envelope.station_id, None)
        if event is not None:
            event.set()

    async def wait_online(self, station_id: str, timeout: float) -> Presence | None:  # noqa: ASYNC109
        """The station's presence once it is connected, or None when `timeout` s pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            presence = self._stations.get(station_id)
            if presence is not None and presence.connected:
                return presence
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            event = self._changed.setdefault(station_id, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **self._config.connection(),
            client_id=f"{self._config.client_id}-presence",
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=self._config.request_timeout_ms,
        )
        await consumer.start()
        try:
            partitions = await self._producer.partitions_for(self._topic)
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
        except BaseException:
            await consumer.stop()
            raise
        self._task = asyncio.create_task(self._run(consumer, ends), name=f"presence:{self._topic}")

    async def _run(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        try:
            while True:
                try:
                    batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                except KafkaError as exc:
                    log.warning("presence feed interrupted", error=str(exc))
                    await asyncio.sleep(1)
                    continue
                for records in batches.values():
                    for record in records:
                        if record.value:
                            with contextlib.suppress(ValueError):
                                self.apply(Envelope.from_bytes(record.value))
                if not self.caught_up.is_set():
                    positions = {tp: await consumer.position(tp) for tp in ends}
                    if all(positions[tp] >= end for tp, end in ends.items()):
                        self.caught_up.set()
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
