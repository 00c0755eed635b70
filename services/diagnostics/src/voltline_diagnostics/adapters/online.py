"""Who is online, from the gateways' compacted presence topic, read whole at start and followed live.

Used to fail a command for an offline station at once and to wait for a station to come back.
"""

from __future__ import annotations

import asyncio
import contextlib

from voltline_bus import BusConfig, FollowedRecord, Producer, TopicFollower
from voltline_events import Envelope, decode_payload
from voltline_events.payloads.station import StationPresence

from voltline_diagnostics.service_layer.maintenance_ports import Presence


class OnlineStations:
    def __init__(self, config: BusConfig, producer: Producer, topic: str) -> None:
        self._config, self._producer, self._topic = config, producer, topic
        self._stations: dict[str, Presence] = {}
        self._changed: dict[str, asyncio.Event] = {}
        # The producer's partitions_for waits for the metadata of a topic created a moment ago.
        self._follower = TopicFollower(
            config,
            topic,
            self._apply_record,
            from_beginning=True,
            partitions_for=producer.partitions_for,
            name="presence",
            max_records=1000,
        )

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

    def _apply_record(self, record: FollowedRecord) -> None:
        if record.value:
            with contextlib.suppress(ValueError):
                self.apply(Envelope.from_bytes(record.value))

    @property
    def caught_up(self) -> asyncio.Event:
        """Set once the table read at start is loaded (commands judge "offline" from it)."""
        return self._follower.caught_up

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()
