"""Sends cost messages to stations through the shared StationCommandClient (service -> Kafka -> gateway)."""

from __future__ import annotations

from typing import Any

from voltline_bus import RequestReplyClient, StationCommandClient
from voltline_events import Topics


class KafkaStationDisplay:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float) -> None:
        self._client = StationCommandClient(rpc, topics, source=source)
        self._timeout = timeout_s

    async def send(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> str:
        result = await self._client.send(
            station_id, action, payload, timeout_s=self._timeout, ocpp_version=ocpp_version
        )
        return str(result.outcome)
