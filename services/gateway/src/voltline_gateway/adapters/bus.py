"""The gateway's StationBus on Kafka: station events out, auth decisions by request/reply."""

from __future__ import annotations

import structlog
from voltline_bus import Producer, RequestReplyClient, RequestTimeout
from voltline_events import Event, Topics, decode_payload, envelope_for, station_key

log = structlog.get_logger()


class KafkaStationBus:
    def __init__(
        self, producer: Producer, rpc: RequestReplyClient, topics: Topics, *, source: str, auth_timeout: float
    ) -> None:
        self._producer = producer
        self._rpc = rpc
        self._topics = topics
        self._source = source
        self._auth_timeout = auth_timeout

    async def publish(self, event: Event, *, station_id: str, message_id: str | None = None) -> None:
        envelope = envelope_for(event, source=self._source, station_id=station_id, message_id=message_id)
        await self._producer.publish(self._topics.station_events, envelope, key=station_key(station_id))

    async def ask_auth(self, request: Event, *, station_id: str, message_id: str | None = None) -> Event | None:
        envelope = envelope_for(request, source=self._source, station_id=station_id, message_id=message_id)
        try:
            reply = await self._rpc.request(
                self._topics.auth_requests, envelope, key=station_key(station_id), timeout=self._auth_timeout
            )
        except RequestTimeout:
            log.warning("auth service did not answer in time; using the fallback", request=request.TYPE)
            return None
        return decode_payload(reply)
