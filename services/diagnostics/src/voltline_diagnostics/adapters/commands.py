"""Asking a station for its inventory through whichever gateway holds it (voltline_bus.StationCommandClient)."""

from __future__ import annotations

from typing import Any

from voltline_bus import RequestReplyClient, StationCommandClient
from voltline_events import Topics

from voltline_diagnostics.service_layer.ports import Answer

__all__ = ["Answer", "InventoryCommands"]


class InventoryCommands:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float) -> None:
        self._client = StationCommandClient(rpc, topics, source=source)
        self._timeout = timeout_s

    async def ask(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> Answer:
        """Never raises for the station's or the bus's sake: no gateway answering is a `timeout` answer."""
        result = await self._client.send(
            station_id, action, payload, timeout_s=self._timeout, ocpp_version=ocpp_version
        )
        return Answer(result.outcome, result.payload, result.error_description or result.error_code)
